import json
from pathlib import Path

from typer.testing import CliRunner

from crontopus_cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "services" / "gitops" / "crontopus_gitops" / "seed"


def crontopus(*args: str):
    return CliRunner().invoke(app, [*args])


def test_validate_passes_the_examples():
    result = crontopus("jobs", "validate", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert "5 job(s) valid, 0 problem(s)" in result.stdout


def test_validate_fails_with_precise_messages(tmp_path: Path):
    folder = tmp_path / "production"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: x, namespace: production}\n"
        'spec:\n  schedule: "0 0 31 2 *"\n  command: "true"\n'
    )
    result = crontopus("jobs", "validate", str(tmp_path), "--json")
    assert result.exit_code == 1
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["line"], error["field"]) == (5, "spec.schedule") and "never fires" in error["message"]


def test_plan_shows_next_runs_in_the_jobs_zone_and_flags_self_overlap(tmp_path: Path):
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "slow.yaml").write_text(
        "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: slow, namespace: ops}\n"
        'spec: {schedule: "*/10 * * * *", timezone: Asia/Tokyo, command: "true", timeout: 15m}\n'
    )
    result = crontopus("jobs", "plan", str(folder / "slow.yaml"), "-n", "3", "--json")
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)["jobs"]
    assert len(plan["next"]) == 3 and all(fire["at"].endswith("+09:00") for fire in plan["next"])
    assert any("longer than the shortest gap" in warning for warning in plan["warnings"])
