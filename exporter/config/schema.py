"""The configuration's shape: every section as a strict pydantic model, with the checks
and defaults of each option (its ``description`` is the option's documentation, for
``--help`` and docs/configuration.md)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from exporter import routes

DEFAULT_PORT = 9853

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Go-style durations (``90s``, ``5m``, ``1h30m``, ``250ms``) to seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit (write e.g. {value}s)")
    if not isinstance(value, str):
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    text = value.strip()
    if not text or _DURATION_PART.sub("", text) != "":
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration` for help texts and the landing page."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL (e.g. https://ai-gateway.vercel.sh)")
    return value.rstrip("/")


def _origin(value: str) -> str:
    """The URL's scheme, host and port: what the official SDK calls the usage API at. Vercel
    documents the base URL as ``https://ai-gateway.vercel.sh/v1``; the endpoints add ``/v1``
    themselves, so a copied ``/v1`` (or any path) is dropped rather than doubled."""
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}"


def _check_listen_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. :{DEFAULT_PORT} or 127.0.0.1:9853)")
    del host
    return value


def _check_path(value: str) -> str:
    if not value.startswith("/") or value in routes.FIXED:
        raise ValueError(
            f"{value!r} must be an absolute path other than the built-in routes "
            f"({', '.join(sorted(routes.FIXED))})"
        )
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _at_least(minimum: float) -> AfterValidator:
    def check(value: float) -> float:
        if value < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)}")
        return value

    return AfterValidator(check)


class StrictModel(BaseModel):
    """The base of every file's models: an unknown key is an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WebConfig(StrictModel):
    listen_address: Annotated[str, AfterValidator(_check_listen_address)] = Field(
        f":{DEFAULT_PORT}", description="Address to listen on for /metrics, intake and probes."
    )
    telemetry_path: Annotated[str, AfterValidator(_check_path)] = Field(
        routes.DEFAULT_METRICS, description="Path under which to expose metrics."
    )
    # Access (TLS, basic auth, request limits): exporter/web/config_file.py, auth.py, limits.py.
    config_file: Path | None = Field(
        None,
        description="Web configuration file (Prometheus exporter-toolkit format) for TLS and "
        "basic auth; read at start and on SIGHUP.",
    )
    read_header_timeout: Annotated[Duration, _at_least(1.0)] = Field(
        10.0, description="Close a connection whose request headers take longer to arrive."
    )
    read_timeout: Annotated[Duration, _at_least(1.0)] = Field(
        60.0, description="Close a connection whose whole request (with body) takes longer."
    )
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request line plus headers accepted (else 431)."
    )
    write_timeout: Annotated[Duration, _at_least(1.0)] = Field(
        30.0,
        description="Abort a connection whose client has not read a whole response (a whole "
        "exposition held in memory) this long after it was written.",
    )

    @model_validator(mode="after")
    def _read_timeout_covers_headers(self) -> WebConfig:
        if self.read_timeout < self.read_header_timeout:
            raise ValueError("read_timeout must be at least read_header_timeout")
        return self


class GatewayConfig(StrictModel):
    url: Annotated[str, AfterValidator(_check_http_url), AfterValidator(_origin)] = Field(
        "https://ai-gateway.vercel.sh",
        description="Base URL of the AI Gateway API; only its origin is used, so the documented "
        "https://ai-gateway.vercel.sh/v1 works too.",
    )
    timeout: Annotated[Duration, _at_least(0.1)] = Field(
        10.0,
        description="Most time one upstream request may take, connecting and reading the whole "
        "answer (a trickling answer is cut at it).",
    )


class CreditsConfig(StrictModel):
    interval: Annotated[Duration, _at_least(1.0)] = Field(
        60.0, description="How often to poll GET /v1/credits per team (with ±10% jitter)."
    )
    max_staleness: Annotated[Duration, _at_least(1.0)] = Field(
        600.0,
        description="Stop publishing balance and spend when the last good value is older.",
    )


class LogConfig(StrictModel):
    level: Literal["debug", "info", "warn", "error"] = Field(
        "info", description="Only log messages with the given severity or above."
    )
    format: Literal["logfmt", "json"] = Field("logfmt", description="Output format of log lines.")


class StateConfig(StrictModel):
    path: Path = Field(
        Path("data/state.db"),
        description="SQLite file holding pending and resolved IDs and the generation metrics.",
    )
    dedup_retention: Annotated[Duration, _at_least(3600.0)] = Field(
        7 * 86400.0, description="How long a resolved ID is remembered to drop resubmissions."
    )
    dedup_max_rows: int = Field(
        10_000_000, ge=1000, description="At most this many resolved IDs are remembered."
    )


class IngestConfig(StrictModel):
    token_file: Path | None = Field(
        None, description="File holding the bearer token POST /generations requires (if set)."
    )
    follow: list[str] = Field(
        default_factory=list,
        description="Log file to pick generation IDs out of, as PATH or TEAM=PATH (repeatable).",
    )
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest intake body accepted.")
    max_ids: int = Field(
        10_000, ge=1, description="Most IDs accepted in one intake request, pushed or in spans."
    )
    max_pending: int = Field(
        2_000_000,
        ge=1,
        description="Most IDs waiting per team, three quarters of them through one intake path; "
        "beyond it intake answers 503.",
    )
    max_concurrent_requests: int = Field(
        64, ge=1, description="Intake requests handled at once; beyond it intake answers 503."
    )


class OtlpConfig(StrictModel):
    """POST /v1/traces: which team a span belongs to, and how much one request may hold."""

    team_attribute: str | None = Field(
        None,
        description="Span or resource attribute naming a span's team (e.g. "
        "deployment.environment); without it, the team query parameter, else the first team.",
    )
    team_map: list[str] = Field(
        default_factory=list,
        description="VALUE=TEAM: the team of spans whose team attribute is VALUE (repeatable); "
        "a value that is a team's name needs no entry.",
    )
    max_body_bytes: int = Field(
        20 << 20,
        ge=1024,
        description="Largest trace body accepted, compressed and again once decompressed (the "
        "OpenTelemetry Collector's receiver default: an SDK's batch of long prompts fits).",
    )
    max_spans: int = Field(10_000, ge=1, description="Most spans accepted in one trace request.")
    scan_all_attributes: bool = Field(
        False,
        description="Read generation IDs from every string of every span attribute and event, "
        "not only from the response's (provider metadata, response IDs): for senders whose "
        "attributes are unknown. It also reads prompts, which re-send earlier calls' IDs, and "
        "errors, whose IDs have no record.",
    )
    trust_span_values: bool = Field(
        False,
        description="Take cost, tokens and timings from AI Gateway spans that arrive with the "
        "ingest token (a Collector in front of the drain, which cannot keep Vercel's "
        "signature), not only from signed drain deliveries; needs ingest.token_file.",
    )

    @field_validator("team_map")
    @classmethod
    def _pairs(cls, team_map: list[str]) -> list[str]:
        for entry in team_map:
            value, sep, team = entry.partition("=")
            if not sep or not value or not team:
                raise ValueError(f"{entry!r} is not VALUE=TEAM")
        return team_map

    def mapping(self) -> dict[str, str]:
        return dict(entry.split("=", 1) for entry in self.team_map)


class DrainConfig(StrictModel):
    """AI Gateway's trace drain, delivered to POST /v1/traces (exporter/web/otlp.py)."""

    secret_file: Path | None = Field(
        None,
        description="File holding the trace drain's signature secret (two lines while rotating "
        "it): deliveries signed with it are the only team's, and their span values count "
        "without a lookup. Several teams: teams[].drain_secret_file.",
    )
    verify_code_file: Path | None = Field(
        None,
        description="File holding the verification code Vercel shows when the drain's endpoint "
        "is added; every answer on /v1/traces carries it in x-vercel-verify.",
    )


class LookupConfig(StrictModel):
    concurrency: int = Field(8, ge=1, le=256, description="Lookups in flight per team.")
    rate: float = Field(20.0, gt=0, description="Lookups started per second per team.")
    initial_delay: Annotated[Duration, _at_least(0.0)] = Field(
        5.0, description="Wait before the first lookup (records appear some seconds late)."
    )
    max_age: Annotated[Duration, _at_least(1.0)] = Field(
        900.0,
        description="Give an ID up (abandoned, not_found) when the gateway still answers 404 "
        "this long after it arrived; errors and a backlog never give an ID up before the dedup "
        "retention.",
    )
    retry_budget: float = Field(
        5.0,
        ge=0,
        description="Lookup retries per second per team (a minute's worth may burst); the rest "
        "wait, so IDs that never resolve cannot make the exporter call the gateway more.",
    )


class GenerationsConfig(StrictModel):
    max_models: int = Field(
        200, ge=1, description="Distinct model (and provider) label values before 'other'."
    )
    max_series: int = Field(
        1000,
        ge=1,
        description="Distinct (vercel_team, model, provider) series per generation family before "
        "'other': bounds their product, not just each label.",
    )


class AttributionConfig(StrictModel):
    """Labels that attribute generations to what the application says they were for."""

    labels: list[str] = Field(
        default_factory=list,
        description="LABEL=SOURCE (repeatable): a label on the cost, token and count series of "
        "generations, from a span attribute (span:ai.telemetry.functionId) or a field sent "
        "with an ID on POST /generations (field:feature); a label may have several sources.",
    )
    max_values: int = Field(
        20, ge=1, le=1000, description="Distinct values of each attribution label before 'other'."
    )

    @field_validator("labels")
    @classmethod
    def _sources(cls, labels: list[str]) -> list[str]:
        for entry in labels:
            label, sep, source = entry.partition("=")
            kind, colon, name = source.partition(":")
            if not sep or not label or kind not in ("span", "field") or not colon or not name:
                raise ValueError(f"{entry!r} is not LABEL=span:ATTRIBUTE or LABEL=field:NAME")
        return labels


class AlertThresholds(StrictModel):
    """Per-team thresholds, published as gauges so one rule file serves every team."""

    credits_low_usd: Decimal | None = Field(None, ge=0)
    credits_critical_usd: Decimal | None = Field(None, ge=0)
    credits_runway: Annotated[Duration, _at_least(60.0)] | None = None
    spend_spike_floor_usd: Decimal | None = Field(None, ge=0)
    budget_used_ratio: float | None = Field(None, gt=0, le=1)
    model_deprecation: Annotated[Duration, _at_least(3600.0)] | None = None


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


ModelId = Annotated[str, _matching(r"[^\s/]{1,100}/[^\s/]{1,100}", "a model ID (creator/model)")]


class CatalogConfig(StrictModel):
    """The public model catalog: free and keyless, so on by default (sources/catalog.py)."""

    enabled: bool = Field(
        True,
        description="Read the public model catalog (no key, not billed): prices, cache "
        "savings, deprecations and provider health.",
    )
    prices_interval: Annotated[Duration, _at_least(60.0)] = Field(
        3600.0, description="How often to read GET /v1/models: prices and deprecations."
    )
    health_interval: Annotated[Duration, _at_least(30.0)] = Field(
        300.0, description="How often to read the provider health of the top models."
    )
    top_models: int = Field(
        20,
        ge=0,
        le=100,
        description="Models whose provider health is published: the most used in the "
        "exporter's own traffic (0: none).",
    )
    models: list[ModelId] = Field(
        default_factory=list,
        description="Models to publish prices and deprecations of even before any traffic "
        "uses them, as creator/model (repeatable).",
    )


TeamName = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
        "a valid team name (letters, digits, '_', '.', '-'; at most 63)",
    ),
]
EnvVarName = Annotated[str, _matching(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")]


# --- Custom Reporting and budgets (optional, per team): exporter/sources/reports.py, budgets.py

# ``day`` reports the window's total; the others add a label named after the dimension.
GroupBy = Literal[
    "model",
    "provider",
    "user",
    "tag",
    "credential_type",
    "api_key_name",
    "zero_data_retention",
    "day",
]
# last_hour: the last complete UTC hour, from an hourly (date_part=hour) query.
Window = Literal["today", "month_to_date", "last_7_days", "last_30_days", "last_hour"]
# Each query is billed ($5 per 1,000), so polling faster than this is refused.
REPORT_MIN_INTERVAL = 300.0

ReportName = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
        "a valid report name (letters, digits, '_', '.', '-'; at most 63)",
    ),
]
FilterValue = Annotated[str, _matching(r"\S(?:.{0,198}\S)?", "a non-empty value (at most 200)")]
TagValue = Annotated[str, _matching(r"[^\s,](?:[^,]{0,198}[^\s,])?", "a tag (no commas)")]


class ReportFilters(StrictModel):
    """Applied by the API before it groups; a filtered report costs the same as any other."""

    model: FilterValue | None = None
    provider: FilterValue | None = None
    user_id: FilterValue | None = None
    credential_type: Literal["byok", "system"] | None = None
    zero_data_retention: bool | None = None
    tags: Annotated[list[TagValue], Field(min_length=1)] | None = None
    tags_match: Literal["any", "all"] | None = None

    @model_validator(mode="after")
    def _tags_match_needs_tags(self) -> ReportFilters:
        if self.tags_match is not None and self.tags is None:
            raise ValueError("tags_match needs tags")
        return self


class ReportConfig(StrictModel):
    name: ReportName
    group_by: GroupBy
    window: Window
    interval: Annotated[Duration, _at_least(REPORT_MIN_INTERVAL)] = 900.0
    top_n: int = Field(50, ge=1, le=1000)
    filters: ReportFilters = ReportFilters()


class BudgetsConfig(StrictModel):
    token_file: Path
    team_id: Annotated[
        str, _matching(r"[A-Za-z0-9_-]{1,100}", "a Vercel team ID (e.g. team_a1b2c3)")
    ]
    interval: Annotated[Duration, _at_least(60.0)] = 300.0
    url: Annotated[str, AfterValidator(_check_http_url)] = "https://api.vercel.com"


class TeamConfig(StrictModel):
    name: TeamName
    api_key_env: EnvVarName | None = None
    api_key_file: Path | None = None
    alerts: AlertThresholds = AlertThresholds()
    # The team's trace drain: its signature secret (one per line) and verification code.
    drain_secret_file: Path | None = None
    drain_verify_code_file: Path | None = None
    # Custom Reporting and budgets (optional).
    reports: list[ReportConfig] = Field(default_factory=list)
    budgets: BudgetsConfig | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> TeamConfig:
        if (self.api_key_env is None) == (self.api_key_file is None):
            raise ValueError("set exactly one of api_key_env or api_key_file")
        return self

    @model_validator(mode="after")
    def _unique_report_names(self) -> TeamConfig:
        seen: set[str] = set()
        for index, report in enumerate(self.reports):
            if report.name in seen:
                raise ValueError(
                    f"reports[{index}].name: {report.name!r} is used by another report"
                )
            seen.add(report.name)
        return self


class Config(StrictModel):
    web: WebConfig = WebConfig()
    gateway: GatewayConfig = GatewayConfig()
    credits: CreditsConfig = CreditsConfig()
    log: LogConfig = LogConfig()
    state: StateConfig = StateConfig()
    ingest: IngestConfig = IngestConfig()
    otlp: OtlpConfig = OtlpConfig()
    drain: DrainConfig = DrainConfig()
    attribution: AttributionConfig = AttributionConfig()
    lookup: LookupConfig = LookupConfig()
    generations: GenerationsConfig = GenerationsConfig()
    catalog: CatalogConfig = CatalogConfig()
    teams: list[TeamConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.credits.max_staleness < self.credits.interval:
            raise ValueError("credits.max_staleness must be at least credits.interval")
        seen: set[str] = set()
        for index, team in enumerate(self.teams):
            if team.name in seen:
                raise ValueError(f"teams[{index}].name: {team.name!r} is used by another team")
            seen.add(team.name)
        if self.otlp.trust_span_values and self.ingest.token_file is None:
            raise ValueError(
                "otlp.trust_span_values needs ingest.token_file: span values are trusted only "
                "from a sender that proves who it is"
            )
        if len(self.teams) > 1 and self.drain.secret_file is not None:
            raise ValueError(
                "drain.secret_file is the only team's drain secret; with several teams, give "
                "each its own teams[].drain_secret_file"
            )
        return self


# Sections whose options are also flags and environment variables (teams are YAML only).
SECTIONS: dict[str, type[StrictModel]] = {
    "web": WebConfig,
    "gateway": GatewayConfig,
    "credits": CreditsConfig,
    "log": LogConfig,
    "state": StateConfig,
    "ingest": IngestConfig,
    "otlp": OtlpConfig,
    "drain": DrainConfig,
    "attribution": AttributionConfig,
    "lookup": LookupConfig,
    "generations": GenerationsConfig,
    "catalog": CatalogConfig,
}
