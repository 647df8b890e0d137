"""Numbers in API bodies are JSON numbers; a manifest, written by people in YAML, may quote them."""

import pytest
from pydantic import ValidationError

from crontopus_schemas.agents import EnrollmentTokenCreate
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.manifests import load_files


def refusal(model, body) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in caught.value.errors()]


WHOLE, NUMBER = "Value error, a whole number, not a string", "Value error, a number, not a string"


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (AlertRules, {"failures": {"consecutive": "3"}}, f'failures.consecutive: {WHOLE}: write 3, not "3"'),
        (AlertRules, {"failures": {"window": "20"}}, f'failures.window: {WHOLE}: write 20, not "20"'),
        (AlertRules, {"failures": {"ratio": "0.5"}}, f'failures.ratio: {NUMBER}: write 0.5, not "0.5"'),
        (AlertRules, {"failures": {"ratio": True}}, "failures.ratio: Value error, a number, not true or false"),
        (AlertRules, {"max_runs": {"count": "5", "per": "1h"}}, f'max_runs.count: {WHOLE}: write 5, not "5"'),
        (EnrollmentTokenCreate, {"ttl_seconds": "600"}, f'ttl_seconds: {WHOLE}: write 600, not "600"'),
        (EnrollmentTokenCreate, {"max_uses": "many"}, f"max_uses: {WHOLE}"),
    ],
)
def test_an_api_body_refuses_a_number_sent_as_a_string_naming_the_field(model, body, message):
    assert refusal(model, body) == [message]


def test_an_api_body_takes_json_numbers():
    rules = AlertRules.model_validate({"failures": {"consecutive": 3, "ratio": 0.5, "window": 20.0}})
    assert (rules.failures.consecutive, rules.failures.ratio, rules.failures.window) == (3, 0.5, 20)
    assert AlertRules.model_validate_json('{"max_runs": {"count": 5, "per": "1h"}}').max_runs.count == 5


def test_a_manifest_may_still_quote_its_numbers():
    text = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: report, namespace: ops}
spec:
  schedule: "0 6 * * *"
  command: /usr/local/bin/report
  monitor:
    failures: {consecutive: "3", ratio: "0.5", window: "20"}
    maxRuns: {count: "2", per: 1d}
"""
    loaded = load_files([("ops/report.yaml", text)])
    assert loaded.errors == []
    monitor = loaded.jobs[0].manifest.spec.monitor
    assert (monitor.failures.consecutive, monitor.failures.ratio, monitor.failures.window) == (3, 0.5, 20)
    assert monitor.max_runs is not None and monitor.max_runs.count == 2


def test_a_manifest_still_refuses_true_for_a_count():
    text = (
        'apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: r, namespace: ops}\nspec:\n  schedule: "0 6 * * *"\n'
    )
    text += "  command: x\n  monitor: {failures: {consecutive: true}}\n"
    assert [str(error) for error in load_files([("ops/r.yaml", text)]).errors] == [
        "ops/r.yaml:7: spec.monitor.failures.consecutive: a whole number, not true or false"
    ]
