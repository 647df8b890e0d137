"""The pre-commit hook (.pre-commit-hooks.yaml at the top of this repository, documented in
docs/job-manifest-spec.md) feeds `crontopus jobs validate` the files that are manifests only."""

import re
from pathlib import Path

from ruamel.yaml import YAML
from typer.testing import CliRunner

from crontopus_cli.main import app

ROOT = Path(__file__).resolve().parents[2]
JOB = "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: backup, namespace: production}\n"
JOB += 'spec: {schedule: "0 2 * * *", command: /usr/local/bin/backup.sh}\n'
# A jobs repository as teams have them: manifests next to CI, tooling and deployment YAML.
REPOSITORY = {
    "production/backup.yaml": JOB,
    ".github/workflows/jobs.yml": "on: push\njobs: {check: {runs-on: ubuntu-latest, steps: []}}\n",
    ".pre-commit-config.yaml": "repos: []\n",
    ".gitlab-ci.yml": "validate: {script: [crontopus jobs validate .]}\n",
    "production/.draft.yaml": "not: a manifest\n",
}
IN_A_JOBS_FOLDER = {
    "jobs/production/backup.yaml": JOB,
    "docker-compose.yml": "services: {db: {image: postgres}}\n",
    "deploy/chart/values.yaml": "replicas: 2\n",
}


def fed(hook: dict, paths: list[str]) -> list[str]:
    """The files pre-commit passes to a hook: `files` matches and `exclude` does not (re.search)."""
    files, exclude = re.compile(hook.get("files", "")), re.compile(hook.get("exclude", "^$"))
    return [path for path in paths if files.search(path) and not exclude.search(path)]


def hook_definition() -> dict:
    (hook,) = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return hook


def documented_config() -> dict:
    """The `.pre-commit-config.yaml` docs/job-manifest-spec.md shows for a jobs folder."""
    spec = (ROOT / "docs" / "job-manifest-spec.md").read_text()
    (block,) = [block for block in re.findall(r"```yaml\n(.*?)```", spec, re.S) if "crontopus-validate" in block]
    (hook,) = YAML(typ="safe").load(block)["repos"][0]["hooks"]
    return hook


def validate_as_the_hook_does(tmp_path: Path, repository: dict[str, str], hook: dict) -> tuple[int, str]:
    for path, text in repository.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    selected = [str(tmp_path / path) for path in fed(hook, sorted(repository))]
    result = CliRunner().invoke(app, [*hook_definition()["entry"].split()[1:], *selected])
    return result.exit_code, result.output


def test_the_hook_passes_a_repository_whose_ci_and_tooling_yaml_files_are_not_manifests(tmp_path: Path):
    code, output = validate_as_the_hook_does(tmp_path, REPOSITORY, hook_definition())
    assert code == 0, output
    assert "1 job(s) valid, 0 problem(s)" in output


def test_the_documented_config_feeds_only_the_jobs_folder(tmp_path: Path):
    hook = {**hook_definition(), **documented_config()}  # the config's keys override the hook's
    assert fed(hook, sorted(IN_A_JOBS_FOLDER)) == ["jobs/production/backup.yaml"]
    code, output = validate_as_the_hook_does(tmp_path, IN_A_JOBS_FOLDER, hook)
    assert code == 0, output
