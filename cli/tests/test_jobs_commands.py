import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from crontopus_cli.commands import jobs
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


def test_validate_reports_a_file_that_is_not_utf8_and_goes_on_with_the_others(tmp_path: Path):
    latin = write_job(tmp_path / "ops", "latin", '{schedule: "0 1 * * *", command: echo, args: ["caf\u00e9"]}')
    latin.write_bytes(latin.read_text().encode("latin-1"))  # the é of café as the one byte 0xE9
    write_job(tmp_path / "ops", "good", '{schedule: "0 1 * * *", command: "true"}')
    (tmp_path / "ops" / "zzz.yaml").write_text("spec: [\n")

    result = crontopus("jobs", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"{latin}:4: not UTF-8: byte 0xE9 in column 57; save the file as UTF-8" in result.stdout
    assert "zzz.yaml:2: not valid YAML" in result.stdout  # checked after the file that is not UTF-8
    assert "1 job(s) valid, 2 problem(s)" in result.stdout


def test_validate_reports_a_file_it_cannot_read_and_goes_on_with_the_others(tmp_path: Path, monkeypatch):
    locked = write_job(tmp_path / "ops", "locked", '{schedule: "0 1 * * *", command: "true"}')
    write_job(tmp_path / "ops", "good", '{schedule: "0 1 * * *", command: "true"}')

    def read(path: Path) -> str:
        if path == locked:  # as for a file of another user's, mode 0600 (the tests may run as root)
            raise PermissionError(13, "Permission denied")
        return path.read_text()

    monkeypatch.setattr(jobs, "read_manifest", read)
    result = crontopus("jobs", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"{locked}: cannot read it: Permission denied" in result.stdout
    assert "1 job(s) valid, 1 problem(s)" in result.stdout


def test_validate_and_plan_work_inside_a_namespace_folder(tmp_path: Path, monkeypatch):
    write_job(tmp_path / "ops", "hello", '{schedule: "0 1 * * *", command: "true"}')
    monkeypatch.chdir(tmp_path / "ops")
    for args in (("validate", "hello.yaml"), ("validate", "."), ("plan", "hello.yaml")):
        result = crontopus("jobs", *args)
        assert result.exit_code == 0, result.output
    assert "1 job(s) valid, 0 problem(s)" in crontopus("jobs", "validate", ".").stdout


def test_validate_names_the_file_as_typed_when_its_folder_is_wrong(tmp_path: Path, monkeypatch):
    write_job(tmp_path / "staging", "hello", '{schedule: "0 1 * * *", command: "true"}')
    monkeypatch.chdir(tmp_path / "staging")
    result = crontopus("jobs", "validate", "hello.yaml")
    assert result.exit_code == 1
    assert "hello.yaml:3: metadata.namespace: namespace 'ops' must match" in result.stdout
    assert "a folder named ops/" in result.stdout


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


def write_job(folder: Path, name: str, spec: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {{name: {name}, namespace: ops}}\nspec: {spec}\n"
    )
    return path


def test_validate_and_plan_warn_when_a_starred_day_field_makes_days_match_both(tmp_path: Path):
    write_job(tmp_path / "ops", "weekdays", '{schedule: "0 9 */2 * 1-5", timezone: Europe/Berlin, command: "true"}')
    write_job(tmp_path / "ops", "either", '{schedule: "0 9 1 * 1", command: "true"}')

    validated = crontopus("jobs", "validate", str(tmp_path), "--json")
    assert validated.exit_code == 0, validated.output  # a warning, not an error
    (warning,) = json.loads(validated.stdout)["warnings"]
    assert warning["job"] == "ops/weekdays" and "both day-of-month */2 and day-of-week 1-5" in warning["message"]

    planned = crontopus("jobs", "plan", str(tmp_path / "ops" / "weekdays.yaml"), "--json")
    (plan,) = json.loads(planned.stdout)["jobs"]
    assert any("days that are both" in warning for warning in plan["warnings"])
    assert all(datetime.fromisoformat(fire["at"]).weekday() < 5 for fire in plan["next"])


def test_plan_warns_when_a_dst_change_skips_or_repeats_a_wildcard_jobs_runs(tmp_path: Path):
    # Twice each Sunday, at 02:00 and 02:30, when Berlin's clocks change: 100 runs plan 50 weeks
    # ahead, which always hold a change (they come 5 and 7 months apart).
    wildcard = write_job(
        tmp_path / "ops", "often", '{schedule: "*/30 2 * * 0", timezone: Europe/Berlin, command: "true"}'
    )
    fixed = write_job(tmp_path / "ops", "nightly", '{schedule: "30 2 * * 0", timezone: Europe/Berlin, command: "true"}')
    assert dst_warnings_of(wildcard)
    assert all("follows real time" in warning for warning in dst_warnings_of(wildcard))
    assert dst_warnings_of(fixed) == []  # a fixed-time job keeps to the wall clock: its notes say where it moves


def test_plan_does_not_warn_about_a_dst_change_on_a_day_the_job_does_not_run(tmp_path: Path):
    # Mondays at 09:00 and 09:30: the same 50 weeks hold a Sunday on which the clocks change.
    mondays = write_job(
        tmp_path / "ops", "mondays", '{schedule: "*/30 9 * * 1", timezone: Europe/Berlin, command: "true"}'
    )
    assert dst_warnings_of(mondays) == []


def dst_warnings_of(path: Path) -> list[str]:
    (plan,) = json.loads(crontopus("jobs", "plan", str(path), "-n", "100", "--json").stdout)["jobs"]
    return [warning for warning in plan["warnings"] if "the clocks change (DST)" in warning]


BACKUP = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: backup, namespace: production}
spec: {schedule: "0 2 * * *", command: /usr/local/bin/backup.sh}
"""
HEAD = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_creating_a_job_that_exists_says_how_to_change_it_instead(cli, gateway, tmp_path: Path):
    (tmp_path / "backup.yaml").write_text(BACKUP)
    refusal = "production/backup already exists (in production/backup.yaml); update it instead"
    gateway.on("POST", "/api/jobs", 409, json={"detail": refusal})
    gateway.on(
        "GET",
        "/api/jobs/production/backup",
        json={"job": "production/backup", "file": "production/backup.yaml", "commit": HEAD},
    )
    result = cli("jobs", "create", str(tmp_path / "backup.yaml"))

    assert result.exit_code == 1
    assert "production/backup already exists (in production/backup.yaml)" in result.stderr
    assert "update it instead" not in result.stderr  # the CLI has no update command
    assert "edit that file in the team's Git repository" in result.stderr
    assert f"PUT the whole manifest to /api/jobs/production/backup with base_commit={HEAD}" in result.stderr


def test_another_conflict_on_create_keeps_the_servers_reason(cli, gateway, tmp_path: Path):
    (tmp_path / "backup.yaml").write_text(BACKUP)
    refusal = "production/backup.yaml already exists and holds no job Crontopus can read; move it or use Git"
    gateway.on("POST", "/api/jobs", 409, json={"detail": refusal})
    result = cli("jobs", "create", str(tmp_path / "backup.yaml"))

    assert result.exit_code == 1
    assert f"error: {refusal}" in result.stderr
