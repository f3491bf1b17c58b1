"""The rule file: promtool check and unit tests, style, naming, coverage, and mutation checks.

The promtool unit tests live next to the rules (grafana/rules/tests/*.yaml); this module runs
them, checks that they cover every alert both firing and not firing and every recording rule,
checks every selector against the metric contract (exporter.metrics), and plants bugs in copies
of the rule file to prove that the unit tests notice them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import metrics
from tests.rules import recorded
from tests.support import promql
from tests.support.processes import REPO_ROOT

RULES_DIR = REPO_ROOT / "grafana" / "rules"
RULE_FILE = RULES_DIR / "vercel-ai-gateway.rules.yaml"
UNIT_TESTS = sorted((RULES_DIR / "tests").glob("*.yaml"))
RUNBOOK = REPO_ROOT / "grafana" / "RUNBOOK.md"
RUNBOOK_URL = (
    "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter/blob/main/"
    "grafana/RUNBOOK.md#"
)

EXPECTED = {
    "VercelAIGatewayCreditsLow": {"warning"},
    "VercelAIGatewayCreditsCritical": {"critical"},
    "VercelAIGatewayCreditsRunningOut": {"warning"},
    "VercelAIGatewaySpendSpike": {"warning"},
    "VercelAIGatewayBudgetNearlyExhausted": {"warning"},
    "VercelAIGatewayBudgetRunningOut": {"warning"},
    "VercelAIGatewayExporterDown": {"warning", "critical"},
    "VercelAIGatewayUpstreamFailing": {"warning"},
    "VercelAIGatewayDataStale": {"warning"},
    "VercelAIGatewayGenerationLookupsFailing": {"warning"},
    "VercelAIGatewayModelPriceChanged": {"info"},
    "VercelAIGatewayModelDeprecationSoon": {"warning"},
    "VercelAIGatewayCoverageLow": {"warning"},
    "VercelAIGatewayProviderAttemptsFailing": {"warning"},
    "VercelAIGatewayRequestsFailing": {"warning"},
}
# Rules whose alerts carry no vercel_team label: they are about the exporter process itself,
# or about the public model catalog, which is the same for every team.
NO_TEAM = {"VercelAIGatewayExporterDown", "VercelAIGatewayModelPriceChanged"}
# Rules whose value is a constant (0 for "down"), so the description has nothing to show.
NO_VALUE = {"VercelAIGatewayExporterDown", "VercelAIGatewayUpstreamFailing"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's 'prometheus' package (make test does)")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120, check=False)


GROUPS: list[dict[str, Any]] = yaml.safe_load(RULE_FILE.read_text())["groups"]
ALL_RULES = [rule for group in GROUPS for rule in group["rules"]]
RULES = [rule for rule in ALL_RULES if "alert" in rule]
RECORDS = [rule for rule in ALL_RULES if "record" in rule]
RECORDED_RULES = recorded.records(RULE_FILE)
RECORDED = recorded.recorded_families(RECORDED_RULES)
PER_REPLICA = [rule for rule in RECORDED_RULES if rule.per_replica]
RATIOS = [rule for rule in RECORDED_RULES if not rule.per_replica]
# Recording groups are named *.rules and come first (unit tests evaluate them first too).
RECORDING_GROUPS = [group["name"] for group in GROUPS if group["name"].endswith(".rules")]


def _rule_id(rule: dict[str, Any]) -> str:
    return f"{rule['alert']}/{rule['labels']['severity']}"


def test_promtool_check_rules_is_clean() -> None:
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", str(RULE_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALL_RULES)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    assert len(UNIT_TESTS) >= 4
    result = promtool("test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS), result.stdout


def test_the_expected_alerts_and_only_those() -> None:
    found: dict[str, set[str]] = {}
    for rule in RULES:
        found.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    assert found == EXPECTED


def test_recording_and_alert_rules_live_in_their_own_groups() -> None:
    assert RECORDS and RECORDING_GROUPS
    names = [group["name"] for group in GROUPS]
    assert names[: len(RECORDING_GROUPS)] == RECORDING_GROUPS
    for group in GROUPS:
        kinds = {"record" if "record" in rule else "alert" for rule in group["rules"]}
        assert kinds == ({"record"} if group["name"] in RECORDING_GROUPS else {"alert"})


def test_recorded_series_carry_no_extra_labels() -> None:
    assert RECORDS and all(set(rule) == {"record", "expr"} for rule in RECORDS)


def _operation_is_in_the_expression(operation: str, expr: str) -> None:
    match = re.fullmatch(r"([a-z]+)(\d+[mhd])", operation)
    assert match, f"operation {operation!r}: a function and its window, such as deriv6h"
    function, window = match.groups()
    ranges = {(w.function, w.text) for w in promql.range_windows(expr)}
    assert (function, window) in ranges or f":{operation}" in expr, (
        f"{operation}: no {function}(...[{window}]) in the expression, nor a record of it"
    )


@pytest.mark.parametrize("rule", PER_REPLICA, ids=lambda rule: rule.record)
def test_recording_rule_names_say_level_metric_and_operation(rule: recorded.Rule) -> None:
    """level:metric:operations: the labels the series is per, what it measures, and how."""
    level, metric, operation = rule.record.split(":")
    family = RECORDED[rule.record]
    assert level == "_".join(["instance", *family.labels]), "per instance and the kept labels"
    assert metric.startswith(f"{metrics.NAMESPACE}_") and metric.endswith(("_usd", "_seconds"))
    _operation_is_in_the_expression(operation, rule.expr)


@pytest.mark.parametrize("rule", RATIOS, ids=lambda rule: rule.record)
def test_ratio_names_say_level_numerator_denominator_and_operation(rule: recorded.Rule) -> None:
    """level:a_per_b:ratio_<operation> (Prometheus' naming of ratios), recorded per team: the
    replicas are combined inside the rule, keeping job and the level's labels, nothing else."""
    level, metric, operation = rule.record.split(":")
    numerator, per, denominator = metric.partition("_per_")
    assert per and numerator.startswith(f"{metrics.NAMESPACE}_") and denominator
    read = {f.name.removesuffix("_total") for f in map(promql.family_of, _read(rule)) if f}
    assert any(numerator.startswith(name) for name in read), f"{numerator}: divides what?"
    assert operation.startswith("ratio_")
    _operation_is_in_the_expression(operation.removeprefix("ratio_"), rule.expr)
    kept = frozenset({"job", *recorded.level_labels(level)})
    assert "instance" not in kept
    for selector in promql.selectors(rule.expr):
        calls = [c for c in promql.enclosing(rule.expr, selector.start) if c.grouping]
        assert calls, f"{selector.metric}: replicas not combined"
        assert calls[-1].grouping == "by" and calls[-1].labels == kept, (
            f"{selector.metric}: combined by {sorted(calls[-1].labels)}, not {sorted(kept)}"
        )


def _read(rule: recorded.Rule) -> set[str]:
    return promql.metric_names(rule.expr)


def _duration(text: str) -> float:
    return promql.duration_seconds(text)


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_rule_style(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"VercelAIGateway(?:[A-Z][a-z]+)+", name), "CamelCase with the prefix"
    assert set(rule["labels"]) == {"severity"}
    assert rule["labels"]["severity"] in ("info", "warning", "critical")
    assert _duration(rule["for"]) >= 300, "a for: of at least 5 minutes, so that it never flaps"
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    summary = annotations["summary"]
    assert "{{" not in summary and summary.endswith(".") and summary[0].isupper()
    description = annotations["description"]
    assert description.endswith(".")
    if name not in NO_TEAM:
        assert "{{ $labels.vercel_team }}" in description
    if name not in NO_VALUE:
        assert "{{ $value" in description, "the description shows the value"
        assert re.search(r"\$value \| (humanize\w*|printf)", description), "human-formatted"
    assert annotations["runbook_url"] == RUNBOOK_URL + name.lower()


def test_alerts_of_one_name_share_their_summary_and_runbook() -> None:
    by_name: dict[str, set[tuple[str, str]]] = {}
    for rule in RULES:
        key = (rule["annotations"]["summary"], rule["annotations"]["runbook_url"])
        by_name.setdefault(rule["alert"], set()).add(key)
    assert all(len(v) == 1 for v in by_name.values()), by_name


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_runbook_url_points_at_a_runbook_section() -> None:
    anchors = {
        _github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in RULES:
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in anchors, f"RUNBOOK.md has no section for #{anchor}"
    for section in ("Meaning.", "Check.", "Action."):
        assert RUNBOOK.read_text().count(f"**{section}**") >= len(EXPECTED) - 1


def test_runbook_documents_the_defaults_the_rules_use() -> None:
    """The default after ``* 0 +`` in each rule matches the table in RUNBOOK.md."""
    text = RUNBOOK.read_text()
    table = dict(
        re.findall(
            rf"^\| (VercelAIGateway\w+) \| .*? \| `({metrics.NAMESPACE}_alert_\w+)` \|", text, re.M
        )
    )
    defaults = {
        m[0]: float(m[1])
        for m in re.findall(r"^\| (VercelAIGateway\w+) \|.*\| ([\d.]+)[^|]*\|$", text, re.M)
    }
    assert len(table) == 6 and len(defaults) == 6
    for rule in RULES:
        if rule["alert"] not in table:
            continue
        expr = rule["expr"]
        gauge = table[rule["alert"]]
        assert gauge in expr, f"{rule['alert']} must compare against {gauge}"
        (fallback,) = re.findall(r"\* 0 \+ ([\d.]+)", expr)
        assert float(fallback) == defaults[rule["alert"]], rule["alert"]


def _rule_name(rule: dict[str, Any]) -> str:
    return str(rule.get("record") or _rule_id(rule))


PER_REPLICA_RECORDS = {rule.record for rule in PER_REPLICA}


@pytest.mark.parametrize("rule", ALL_RULES, ids=_rule_name)
def test_rule_selectors_follow_the_contract(rule: dict[str, Any]) -> None:
    """Known metrics and labels, replicas combined right, fixed_for_sum labels never summed."""
    expr = rule["expr"]
    found = promql.selectors(expr)
    assert found
    # Per-replica records aggregate nothing; ratios combine the replicas as alerts do.
    per_instance = rule.get("record") in PER_REPLICA_RECORDS
    for selector in found:
        if selector.metric == "up":  # Prometheus' own, per scrape target
            continue
        family = promql.family_of(selector.metric, RECORDED)
        assert family is not None, f"{selector.metric} is not in exporter.metrics nor recorded"
        problems = promql.contract_problems(expr, selector, family, per_instance=per_instance)
        assert problems == []
    # Lifetime spend is mirrored from upstream: never rate()/increase() (a downward correction
    # would read as a reset worth the whole lifetime spend).
    for window in promql.range_windows(expr):
        if window.metric == metrics.CREDITS_USED.name:
            assert window.function in ("delta", "deriv")


def _unit_tests() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, yaml.safe_load(path.read_text())) for path in UNIT_TESTS]


def test_unit_tests_evaluate_recording_rules_first() -> None:
    """Without group_eval_order, promtool evaluates groups in no fixed order: an alert would
    read a recorded series one evaluation old, or not, from one run to the next."""
    for name, unit_test in _unit_tests():
        assert unit_test.get("group_eval_order") == [g["name"] for g in GROUPS], name


def test_unit_tests_pin_every_recording_rule() -> None:
    tested = {
        check["expr"]
        for _, unit_test in _unit_tests()
        for case in unit_test["tests"]
        for check in case.get("promql_expr_test", [])
    }
    assert set(RECORDED) <= tested


def _unit_test_expectations() -> dict[tuple[str, str], dict[str, int]]:
    """(alertname, severity or '') -> how many cases expect it firing / expect nothing."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                alerts = check.get("exp_alerts") or []
                if not alerts:
                    out.setdefault((name, ""), {"firing": 0, "quiet": 0})["quiet"] += 1
                for alert in alerts:
                    key = (name, alert["exp_labels"]["severity"])
                    out.setdefault(key, {"firing": 0, "quiet": 0})["firing"] += 1
                    assert set(alert["exp_annotations"]) == {
                        "summary",
                        "description",
                        "runbook_url",
                    }, f"{path.name}: {name} must pin every annotation"
    return out


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    seen = _unit_test_expectations()
    for name, severities in EXPECTED.items():
        assert seen.get((name, ""), {}).get("quiet"), f"no case where {name} must not fire"
        for severity in severities:
            assert seen.get((name, severity), {}).get("firing"), (
                f"no case where {name} ({severity}) fires"
            )


def test_unit_tests_cover_several_teams_and_a_top_up() -> None:
    text = "\n".join(p.read_text() for p in UNIT_TESTS)
    for family in metrics.FAMILIES:
        if family.area is metrics.Area.THRESHOLDS:
            assert family.name in text, f"no unit test sets {family.name}"
    assert "top-up" in text.lower()
    teams = set(re.findall(r'vercel_team="([^"]+)"', text))
    assert len(teams) >= 5


# The rule file's text spells these; the test spells none (exporter/metrics.py does).
LOW = metrics.ALERT_CREDITS_LOW.name
LOW_PREFIX = LOW.removesuffix("_threshold_usd")
BALANCE = metrics.CREDITS_BALANCE.name
USED = metrics.CREDITS_USED.name
ABANDONED = metrics.GENERATION_IDS_ABANDONED.name
PRICE = metrics.MODEL_TOKEN_PRICE.name
REQUESTS = metrics.GENERATION_REQUESTS.name
BUILD_INFO = metrics.BUILD_INFO.name
BUDGET = ", ".join(["job", *metrics.BUDGET_LIMIT.labels])
BUDGET_THRESHOLD = metrics.BUDGET_ALERT_THRESHOLD.name
BYOK_INCLUDED = metrics.BUDGET_BYOK_INCLUDED.name
COST_SUM = f"{metrics.GENERATION_COST.name}_sum"
SPEND_1H = f"instance_vercel_team:{USED}:delta1h"
ATTEMPTS = metrics.PROVIDER_ATTEMPTS.name
FAILED = metrics.REQUESTS_FAILED.name
TEAM_PROVIDER = "job, vercel_team, provider"

# (what the bug is, unit-test file that must catch it, text in the rule file, replacement)
MUTATIONS = [
    ("CreditsLow default 40 instead of 50", "credits.yaml", "* 0 + 50", "* 0 + 40"),
    (
        "CreditsLow without its default",
        "credits.yaml",
        f"""max by (job, vercel_team) ({LOW})
    or
    max by (job, vercel_team) ({BALANCE}) * 0 + 50""",
        f"max by (job, vercel_team) ({LOW})",
    ),
    (
        "replicas summed instead of deduplicated",
        "credits.yaml",
        f"""max by (job, vercel_team) ({BALANCE})
  < on (job, vercel_team)
  (
    max by (job, vercel_team) ({LOW_PREFIX}""",
        f"""sum by (job, vercel_team) ({BALANCE})
  < on (job, vercel_team)
  (
    max by (job, vercel_team) ({LOW_PREFIX}""",
    ),
    (
        "burn rate from the balance slope",
        "runway.yaml",
        f"deriv({USED}[6h])",
        f"-deriv({BALANCE}[6h])",
    ),
    (
        "recorded runway for a team that spends nothing",
        "recording.yaml",
        f"instance_vercel_team:{USED}:deriv6h > 0)",
        f"instance_vercel_team:{USED}:deriv6h >= 0)",
    ),
    (
        "spend read with increase()",
        "spend-spike.yaml",
        f"delta({USED}[1h])",
        f"increase({USED}[1h])",
    ),
    (
        "spike floor ignored",
        "spend-spike.yaml",
        f"max by (job, vercel_team) ({USED}) * 0 + 5",
        f"max by (job, vercel_team) ({USED}) * 0",
    ),
    ("budget ratio default 0.8", "budgets.yaml", "* 0 + 0.9", "* 0 + 0.8"),
    (
        "the thresholds set on a budget in Vercel ignored",
        "budgets.yaml",
        f"max by ({BUDGET}) ({BUDGET_THRESHOLD}) or",
        "",
    ),
    (
        "BYOK spend counted whether the budget includes it or not",
        "budgets.yaml",
        f"* on ({BUDGET}) max by ({BUDGET}) ({BYOK_INCLUDED})",
        "",
    ),
    (
        "weeks begin on Thursday (Unix time 0)",
        "budget-runway.yaml",
        "(time() + 259200) % 604800",
        "time() % 604800",
    ),
    ("a period's first minutes taken as its rate", "budget-runway.yaml", ">= 3600", ">= 0"),
    (
        "a day's reset put off by a day",
        "budget-runway.yaml",
        "vector(time() - time() % 86400 + 86400)",
        "vector(time() - time() % 86400 + 172800)",
    ),
    (
        "abandoned share undefined without found lookups",
        "exporter.yaml",
        f"""        or
        sum by (job, vercel_team) (rate({ABANDONED}[30m])) * 0
""",
        "",
    ),
    (
        "reports held to the credits' 15 minutes",
        "exporter.yaml",
        'source="credits"}) > 900',
        'source=~"credits|reports"}) > 900',
    ),
    (
        "upstream failing only when every source fails",
        "exporter.yaml",
        "max by (job, instance, vercel_team, source) (max_over_time(",
        "max by (job, instance, vercel_team) (max_over_time(",
    ),
    ("deprecation horizon default 90 days", "catalog.yaml", "* 0 + 2592000", "* 0 + 7776000"),
    (
        "deprecation of a model no longer used",
        "catalog.yaml",
        f"increase({REQUESTS}[1d])) > 0)",
        f"increase({REQUESTS}[1d])) >= 0)",
    ),
    (
        "price compared with a minute ago",
        "catalog.yaml",
        f"({PRICE} offset 1h)",
        f"({PRICE} offset 1m)",
    ),
    (
        "price replicas summed",
        "catalog.yaml",
        f"max by (job, model, token_type) ({PRICE})",
        f"sum by (job, model, token_type) ({PRICE})",
    ),
    (
        "coverage counts one replica's generations (max)",
        "coverage.yaml",
        f"sum by (job, vercel_team) (increase({COST_SUM}[1h]))",
        f"max by (job, vercel_team) (increase({COST_SUM}[1h]))",
    ),
    (
        "coverage over the replicas' credits summed",
        "coverage.yaml",
        f"(max by (job, vercel_team) ({SPEND_1H}) > 0)",
        f"(sum by (job, vercel_team) ({SPEND_1H}) > 0)",
    ),
    (
        "generation cost read with delta(), a restart read as negative cost",
        "coverage.yaml",
        f"increase({COST_SUM}[1h])",
        f"delta({COST_SUM}[1h])",
    ),
    ("coverage spend floor ignored", "coverage.yaml", f"({SPEND_1H}) >= 1", f"({SPEND_1H}) >= 0"),
    (
        "coverage threshold 0.8",
        "coverage.yaml",
        "ratio_increase1h) < 0.9",
        "ratio_increase1h) < 0.8",
    ),
    (
        "provider successes counted as errors",
        "requests.yaml",
        f'{ATTEMPTS}{{outcome!="success"}}',
        ATTEMPTS,
    ),
    (
        "provider error ratio undefined for a provider that never failed",
        "requests.yaml",
        f"""or
    sum by ({TEAM_PROVIDER}) (rate({ATTEMPTS}[30m])) * 0""",
        "",
    ),
    (
        "provider replicas deduplicated with max",
        "requests.yaml",
        f"sum by ({TEAM_PROVIDER}) (rate(",
        f"max by ({TEAM_PROVIDER}) (rate(",
    ),
    (
        "a single failed provider call fires",
        "requests.yaml",
        '{outcome!="success"}[30m])) >= 5',
        '{outcome!="success"}[30m])) >= 1',
    ),
    (
        "failed share undefined when no generation was counted",
        "requests.yaml",
        f""")
    or
    sum by (job, vercel_team) (rate({FAILED}[30m]))
  )
  > 0""",
        "))> 0",
    ),
    (
        "failed-request threshold 20 %",
        "requests.yaml",
        "ratio_rate30m) > 0.05",
        "ratio_rate30m) > 0.2",
    ),
    (
        "exporter down for any job",
        "exporter.yaml",
        f"""up == 0
  and on (job)
  max by (job) (last_over_time({BUILD_INFO}[1d]))""",
        "up == 0",
    ),
]


@pytest.mark.parametrize(
    ("bug", "unit_test", "old", "new"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
def test_unit_tests_catch_a_planted_bug(
    tmp_path: Path, bug: str, unit_test: str, old: str, new: str
) -> None:
    # Whitespace in ``old`` matches any whitespace, so the rule file may be re-indented.
    pattern = re.compile(r"\s+".join(re.escape(word) for word in old.split()))
    data = yaml.safe_load(RULE_FILE.read_text())
    count = 0
    for group in data["groups"]:
        for rule in group["rules"]:
            rule["expr"], n = pattern.subn(lambda _: new, rule["expr"])
            count += n
    assert count >= 1, f"mutation {bug!r} no longer applies: update it"
    (tmp_path / RULE_FILE.name).write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES_DIR / "tests" / unit_test, tmp_path / "tests" / unit_test)
    check = promtool("check", "rules", str(tmp_path / RULE_FILE.name))
    assert check.returncode == 0, f"the mutant must still parse: {check.stdout}{check.stderr}"
    result = promtool("test", "rules", str(tmp_path / "tests" / unit_test))
    assert result.returncode != 0, f"{unit_test} did not notice: {bug}"
