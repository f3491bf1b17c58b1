"""Command line: run the exporter (the default), ``simulate`` the gateway, ``lookup`` one ID.

Flags follow the Prometheus Go exporters (``--web.listen-address``, ``--log.level``); each
section option is generated from the typed configuration, so ``--help``, the environment
variables and the YAML keys can never drift apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from exporter import __version__, routes
from exporter.config import (
    ENV_PREFIX,
    Config,
    ConfigError,
    Option,
    format_duration,
    load_config,
    options,
)
from exporter.generations.state_file import StateError
from exporter.logs import setup_logging
from exporter.simulator.modes import Modes
from exporter.web.server import (
    AsgiServer,
    bind,
    bound_port,
    reload_on_hangup,
    run,
    stop_on_signals,
)

PROG = "vercel-ai-gateway-exporter"
log = logging.getLogger("exporter")


def default_text(option: Option) -> str:
    """An option's default as a user writes it (durations as 5m, not 300.0)."""
    if option.default in (None, []):
        return "none"
    if isinstance(option.default, bool):
        return str(option.default).lower()  # as a flag or variable is written: true, false
    if option.duration:
        return format_duration(float(option.default))
    if isinstance(option.default, float) and option.default.is_integer():
        return str(int(option.default))
    return str(option.default)


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Prometheus exporter for Vercel AI Gateway credits, spend and generations.",
        epilog=(
            "Subcommands: 'simulate' runs the bundled gateway simulator; "
            "'lookup GEN_ID' prints one generation's record. "
            "Precedence: flags > environment > --config.file > defaults. "
            "The default team's key comes from AI_GATEWAY_API_KEY (or VERCEL_OIDC_TOKEN)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        metavar="PATH",
        default=os.environ.get(f"{ENV_PREFIX}CONFIG_FILE"),
        help=f"YAML configuration file (teams, and any option below). Env {ENV_PREFIX}CONFIG_FILE.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="Run against an in-process simulator with live traffic; no API key needed.",
    )
    for option in options():
        parser.add_argument(
            option.flag,
            dest=option.key,
            default=argparse.SUPPRESS,
            metavar="VALUE",
            action="append" if option.repeatable else "store",
            help=(
                f"{option.description} Default: {default_text(option)}. Env {option.env}."
            ).replace("%", "%%"),
        )
    return parser


def simulate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} simulate",
        description="Run the bundled AI Gateway simulator (for tests and demos).",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9854",
        help="Address to listen on. Default: 127.0.0.1:9854.",
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the traffic model.")
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="Background generations per second per team (0: none).",
    )
    parser.add_argument(
        "--ready-delay",
        type=float,
        default=3.0,
        help="Seconds before a generation's record can be looked up.",
    )
    parser.add_argument(
        "--balance",
        type=Decimal,
        default=Decimal("100"),
        help="Starting balance of each team in USD.",
    )
    parser.add_argument(
        "--top-up-below",
        type=Decimal,
        default=None,
        help="Top the balance up by 100 USD whenever it falls below this.",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="[NAME=]KEY",
        help="Accept only these keys, one team each (repeatable). "
        "Without it any bearer token is a team.",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="Seconds every gateway API answer takes (a fixed delay, as a remote API has).",
    )
    parser.add_argument(
        "--models",
        type=int,
        default=None,
        help="Serve and generate this many models in all: synthetic ones are added to the "
        "built-in catalogue (for cardinality stress runs).",
    )
    parser.add_argument("--fault", default=None, help="Start with this fault mode active.")
    parser.add_argument(
        "--hobby",
        action="store_true",
        help="Act as a Hobby plan: GET /v1/report answers 403 (POST /_sim/plan switches).",
    )
    parser.add_argument(
        "--mode",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Start with a mode of an undocumented case set, e.g. foreign_generations=forbidden "
        "(repeatable; POST /_sim/modes switches).",
    )
    parser.add_argument(
        "--embedding-share",
        type=float,
        default=0.0,
        help="Share of the background traffic that is embedding requests (0-1).",
    )
    parser.add_argument(
        "--failure-share",
        type=float,
        default=0.0,
        help="Share of the background traffic that fails (no record; 0-1).",
    )
    parser.add_argument(
        "--drain.url",
        dest="drain_url",
        default=None,
        metavar="URL",
        help="Send every request's trace, as AI Gateway's trace drain does, to this OTLP/HTTP "
        "URL (e.g. http://127.0.0.1:9853/v1/traces).",
    )
    parser.add_argument(
        "--drain.secret-file",
        dest="drain_secret_file",
        type=Path,
        default=None,
        metavar="PATH",
        help="File holding the secret the drain signs its deliveries with (needed with "
        "--drain.url).",
    )
    parser.add_argument(
        "--drain.format",
        dest="drain_format",
        default="json",
        choices=["json", "protobuf"],
        help="Delivery format of the drain. Default: json.",
    )
    parser.add_argument(
        "--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"]
    )
    return parser


def lookup_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} lookup",
        description="Look one generation up and print its record as JSON (checks a key or ID).",
    )
    parser.add_argument("generation_id", help="gen_ followed by 26 Crockford base32 characters")
    parser.add_argument("--team", default=None, help="Team whose key to use (default: the first).")
    parser.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        metavar="PATH",
        default=os.environ.get(f"{ENV_PREFIX}CONFIG_FILE"),
    )
    parser.add_argument("--gateway.url", dest="gateway.url", default=argparse.SUPPRESS)
    return parser


def _config_from(args: argparse.Namespace, extra_flags: dict[str, Any] | None = None) -> Config:
    flags = {k: v for k, v in vars(args).items() if "." in k}
    return load_config(args.config_file, os.environ, {**flags, **(extra_flags or {})})


async def _run_exporter(args: argparse.Namespace) -> int:
    from exporter.assembly import build
    from exporter.demo import Demo
    from exporter.service import Exporter
    from exporter.teams import resolve_teams

    stop = asyncio.Event()
    stop_on_signals(stop)
    given = {k: v for k, v in vars(args).items() if "." in k}
    demo = Demo() if args.demo else None
    config = _config_from(args, demo.overrides(given) if demo else None)
    setup_logging(config.log.level, config.log.format)
    teams = demo.teams() if demo else resolve_teams(config, os.environ)
    sock = bind(config.web.listen_address)
    components = build(config, teams)
    exporter = Exporter(components)
    reload_on_hangup(exporter.reload)
    if demo:
        traces = f"http://127.0.0.1:{bound_port(sock)}{routes.TRACES}"
        demo.start(components.generations.intake, None if components.web.tls else traces)
        log.info("demo mode: simulator at %s", demo.url)
    try:
        await exporter.run(sock, stop)
    finally:
        if demo:
            await demo.stop()
    return 0


def _modes(given: list[str]) -> Modes:
    """``NAME=VALUE`` pairs as simulator modes (``true``/``false`` for the flags)."""
    raw: dict[str, object] = {}
    for item in given:
        name, _, value = item.partition("=")
        raw[name] = {"true": True, "false": False}.get(value, value)
    try:
        return Modes().updated(raw) if raw else Modes()
    except ValueError as exc:
        raise ConfigError(f"--mode: {exc}") from None


async def _run_simulator(args: argparse.Namespace) -> int:
    from exporter.simulator.app import Simulator, create_app
    from exporter.simulator.drain import DrainSender
    from exporter.simulator.faults import Fault
    from exporter.simulator.world import world_name_for

    setup_logging(args.log_level, "logfmt")
    keys: dict[str, str] = {}  # key -> team name
    for item in args.api_key:
        name, sep, key = item.partition("=")
        keys[key if sep else item] = name if sep else world_name_for(item)
    sim = Simulator(
        seed=args.seed,
        rate=args.rate,
        ready_delay=args.ready_delay,
        balance=args.balance,
        top_up_below=args.top_up_below,
        latency=args.latency,
        api_keys=keys or None,
        plan="hobby" if args.hobby else "pro",
        modes=_modes(args.mode),
        models=args.models,
        embedding_share=args.embedding_share,
        failure_share=args.failure_share,
    )
    if args.fault:
        sim.fault = Fault.from_json({"mode": args.fault})
    if args.drain_url is not None:
        if args.drain_secret_file is None:
            raise ConfigError("--drain.url needs --drain.secret-file: a drain signs what it sends")
        secret = args.drain_secret_file.read_text().strip()
        sim.start_drain(DrainSender(args.drain_url, secret, args.drain_format))
    stop = asyncio.Event()
    stop_on_signals(stop)
    sock = bind(args.listen)
    server = AsgiServer(create_app(sim), sock)
    tasks = [asyncio.create_task(server.serve()), asyncio.create_task(sim.run_traffic())]
    log.info("simulator listening", extra={"address": args.listen, "seed": args.seed})
    await stop.wait()
    server.stop()
    for task in [tasks[1], *sim.drain_tasks]:
        task.cancel()
    await asyncio.gather(*tasks, *sim.drain_tasks, return_exceptions=True)
    return 0


async def _run_lookup(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry

    from exporter.gateway.client import GatewayClient
    from exporter.gateway.errors import GatewayError
    from exporter.gateway.models import canonical_generation_id
    from exporter.metrics import ApiMetrics
    from exporter.teams import resolve_teams

    generation_id = canonical_generation_id(args.generation_id)
    if generation_id is None:
        raise ConfigError(
            f"{args.generation_id!r} is not a generation ID "
            "(gen_ followed by 26 Crockford base32 characters)"
        )
    config = _config_from(args)
    setup_logging("warn", config.log.format)
    teams = resolve_teams(config, os.environ)
    team = next((t for t in teams if args.team in (None, t.name)), None)
    if team is None:
        raise ConfigError(f"--team {args.team}: no such team in the configuration")
    client = GatewayClient(
        team.name,
        config.gateway.url,
        team.key,
        ApiMetrics(CollectorRegistry()),
        timeout=config.gateway.timeout,
    )
    try:
        record = await client.generation(generation_id)
    except GatewayError as exc:
        print(f"{PROG}: lookup failed ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    out = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(record).items()}
    print(json.dumps(out, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "simulate":
            return asyncio.run(_run_simulator(simulate_parser().parse_args(argv[1:])))
        if argv and argv[0] == "lookup":
            return asyncio.run(_run_lookup(lookup_parser().parse_args(argv[1:])))
        return run(_run_exporter(run_parser().parse_args(argv)))
    except (ConfigError, StateError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
