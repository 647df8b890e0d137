import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from crontopus_schemas.manifest import duration_seconds, json_schema
from crontopus_schemas.manifest_files import decode_manifest
from crontopus_schemas.manifests import TOO_DEEP, load_files, load_tree

EXAMPLES = Path(__file__).resolve().parents[2] / "services" / "gitops" / "crontopus_gitops" / "seed"

GOOD = """\
apiVersion: crontopus.io/v1
kind: Job
metadata:
  name: backup
  namespace: production
spec:
  schedule: "0 2 * * *"
  command: /bin/true
"""


def errors_of(path: str, text: str) -> list[str]:
    return [str(error) for error in load_files([(path, text)]).errors]


def test_the_shipped_examples_are_valid():
    result = load_tree(EXAMPLES)
    assert result.errors == []
    assert {job.manifest.ref for job in result.jobs} >= {"production/backup-database", "staging/hello"}


def test_a_valid_manifest_loads_with_defaults():
    (job,) = load_files([("production/backup.yaml", GOOD)]).jobs
    spec = job.manifest.spec
    assert (spec.timezone, spec.concurrency, spec.enabled, spec.retries.limit) == ("UTC", "forbid", True, 0)
    assert (job.file, job.line) == ("production/backup.yaml", 4)


def test_each_problem_names_file_line_and_field():
    text = GOOD.replace('"0 2 * * *"', '"0 0 31 2 *"').replace("command: /bin/true", "command: x\n  timezon: UTC")
    assert errors_of("production/backup.yaml", text) == [
        "production/backup.yaml:7: spec.schedule: never fires: day 31 does not exist in month 2",
        "production/backup.yaml:9: spec.timezon: unknown field; check its spelling against docs/job-manifest-spec.md",
    ]


def test_a_missing_field_points_at_its_parent():
    text = GOOD.replace("  command: /bin/true\n", "")
    assert errors_of("production/backup.yaml", text) == ["production/backup.yaml:6: spec.command: required"]


def test_bad_yaml_is_reported_with_its_line_and_a_hint():
    (message,) = errors_of("production/x.yaml", GOOD.replace('"0 2 * * *"', "* * * * *"))
    assert message.startswith("production/x.yaml:7: not valid YAML") and "must be quoted" in message


def test_duplicate_keys_are_an_error_not_a_silent_override():
    (message,) = errors_of("production/x.yaml", GOOD + "  command: /bin/false\n")
    assert "production/x.yaml:" in message and "duplicate" in message


def test_the_namespace_must_match_the_folder():
    assert errors_of("staging/backup.yaml", GOOD) == [
        "staging/backup.yaml:5: metadata.namespace: namespace 'production' must match the folder the file is in; "
        "move it into a folder named production/"
    ]


def test_one_bad_file_does_not_hide_the_good_ones_and_duplicates_are_named():
    result = load_files([("production/a.yaml", GOOD), ("production/b.yaml", GOOD), ("production/c.yaml", "kind: [")])
    assert [job.file for job in result.jobs] == ["production/a.yaml"]
    messages = [str(e) for e in result.errors]
    assert "production/b.yaml:4: metadata.name: production/backup is already defined in production/a.yaml:4" in messages
    assert any(m.startswith("production/c.yaml:") and "not valid YAML" in m for m in messages)


def test_a_file_nested_too_deeply_is_an_error_of_that_file_with_its_line_and_the_others_load():
    """QA's file 1,000 lists deep raised RecursionError out of the parser: the team's whole sync
    stopped, and `jobs validate` printed a 900-line traceback."""
    flow = "x: " + "[" * 1000 + "]" * 1000 + "\n"
    block = GOOD + "  env:\n" + "".join("  " * depth + "- \n" for depth in range(2, 200))
    files = [("production/a.yaml", GOOD), ("production/deep.yaml", flow), ("production/z.yaml", block)]
    result = load_files(files)
    assert [job.file for job in result.jobs] == ["production/a.yaml"]
    assert [str(error) for error in result.errors] == [
        f"production/deep.yaml:1: {TOO_DEEP}",
        f"production/z.yaml:{GOOD.count(chr(10)) + 64}: {TOO_DEEP}",
    ]
    assert "nested too deeply" in TOO_DEEP


def test_whatever_still_recurses_past_the_depth_bound_is_an_error_of_that_file(monkeypatch):
    from crontopus_schemas import manifests

    monkeypatch.setattr(manifests, "MAX_DEPTH", 0)  # ruamel's "no bound": the parser recurses until Python stops it
    deep = "x: " + "[" * 1000 + "]" * 1000 + "\n"
    result = load_files([("production/a.yaml", GOOD), ("production/unbounded.yaml", deep)])
    assert [job.file for job in result.jobs] == ["production/a.yaml"]
    assert [str(error) for error in result.errors] == [f"production/unbounded.yaml: {TOO_DEEP}"]


def test_a_new_file_reusing_a_jobs_name_is_the_one_reported_and_the_job_stays_where_it_was():
    """QA: dup.yaml sorts before hello.yaml, and the running job took dup.yaml's schedule."""
    dup = GOOD.replace("0 2 * * *", "0 0 * * *")
    files = [("production/hello.yaml", GOOD), ("production/dup.yaml", dup)]
    result = load_files(files, defined_in={"production/backup": "production/hello.yaml"})
    (job,) = result.jobs
    assert (job.file, job.manifest.spec.schedule) == ("production/hello.yaml", "0 2 * * *")
    assert [str(error) for error in result.errors] == [
        "production/dup.yaml:4: metadata.name: production/backup is already defined in production/hello.yaml:4"
    ]


def test_a_job_defined_twice_in_new_files_is_kept_from_the_first_file_by_name():
    dup = GOOD.replace("0 2 * * *", "0 0 * * *")
    files = [("production/hello.yaml", GOOD), ("production/dup.yaml", dup)]
    # nothing known, or the file named before no longer defines the job: the first by name wins
    for defined_in in (None, {"production/backup": "production/gone.yaml"}):
        result = load_files(files, defined_in=defined_in)
        assert [(job.file, job.manifest.spec.schedule) for job in result.jobs] == [("production/dup.yaml", "0 0 * * *")]
        assert [str(error) for error in result.errors] == [
            "production/hello.yaml:4: metadata.name: production/backup is already defined in production/dup.yaml:4"
        ]


def test_a_job_defined_twice_in_the_file_it_was_in_keeps_its_first_document():
    second = GOOD.replace("0 2 * * *", "0 0 * * *")
    files = [("production/a.yaml", GOOD), ("production/b.yaml", GOOD + "---\n" + second)]
    result = load_files(files, defined_in={"production/backup": "production/b.yaml"})
    assert [(job.file, job.line) for job in result.jobs] == [("production/b.yaml", 4)]
    assert [str(error) for error in result.errors] == [
        "production/a.yaml:4: metadata.name: production/backup is already defined in production/b.yaml:4",
        "production/b.yaml:13: metadata.name: production/backup is already defined in production/b.yaml:4",
    ]


def test_a_manifest_over_the_size_limit_is_an_error_naming_the_limit_and_the_others_load():
    padded = GOOD.replace("name: backup", "name: padded") + "#" * (256 * 1024)
    result = load_files([("production/a.yaml", GOOD), ("production/b.yaml", padded), ("evil/huge.yaml", None)])
    assert [job.file for job in result.jobs] == ["production/a.yaml"]
    limit = "larger than 256 KiB, the most a manifest may be: none of its jobs are loaded"
    assert [str(error) for error in result.errors] == [f"evil/huge.yaml: {limit}", f"production/b.yaml: {limit}"]


# `args: ["café"]` saved in Latin-1 (é is the byte 0xE9) on line 9, where the byte is the 14th character.
LATIN_1 = (GOOD.replace("name: backup", "name: latin") + '  args: ["caf\u00e9"]\n').encode("latin-1")
NOT_UTF8 = "not UTF-8: byte 0xE9 in column 14; save the file as UTF-8: none of its jobs are loaded"


def test_a_file_that_is_not_utf8_is_an_error_naming_its_byte_and_line_and_the_others_load(tmp_path: Path):
    other = GOOD.replace("name: backup", "name: restore")
    result = load_files([("production/latin.yaml", decode_manifest(LATIN_1)), ("production/restore.yaml", other)])
    assert [str(error) for error in result.errors] == [f"production/latin.yaml:9: {NOT_UTF8}"]
    assert [job.manifest.ref for job in result.jobs] == ["production/restore"]
    (tmp_path / "production").mkdir()
    (tmp_path / "production" / "latin.yaml").write_bytes(LATIN_1)
    assert [str(error) for error in load_tree(tmp_path).errors] == [f"production/latin.yaml:9: {NOT_UTF8}"]


def test_the_server_and_the_agent_read_a_commits_file_that_is_not_utf8_as_that_files_error(tmp_path: Path):
    """Both read a commit with git_tree.manifest_files; the agent's fetch process hands the files
    to the daemon as JSON (agent/crontopus_agent/git_mirror.py)."""
    pygit2 = pytest.importorskip("pygit2")
    from crontopus_schemas.git_tree import manifest_files

    (tmp_path / "production").mkdir()
    (tmp_path / "production" / "latin.yaml").write_bytes(LATIN_1)
    (tmp_path / "production" / "backup.yaml").write_text(GOOD)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "jobs"], check=True)
    repo = pygit2.Repository(str(tmp_path))
    files = manifest_files(repo, repo.head.peel(pygit2.Commit).tree, "")
    for read in (files, [tuple(file) for file in json.loads(json.dumps(files))]):
        result = load_files(read)
        assert [str(error) for error in result.errors] == [f"production/latin.yaml:9: {NOT_UTF8}"]
        assert [job.manifest.ref for job in result.jobs] == ["production/backup"]


def test_several_documents_in_one_file_are_several_jobs():
    second = GOOD.replace("name: backup", "name: restore")
    result = load_files([("production/both.yaml", GOOD + "---\n" + second)])
    assert [job.manifest.ref for job in result.jobs] == ["production/backup", "production/restore"]


def test_names_must_be_dns_labels():
    (message,) = errors_of("production/x.yaml", GOOD.replace("name: backup", "name: Backup_DB"))
    assert "metadata.name: must be lowercase letters, digits and '-'" in message


def test_durations():
    assert [duration_seconds(d) for d in ("30s", "5m", "1h30m", "2h")] == [30, 300, 5400, 7200]


def test_durations_may_be_written_in_days_and_weeks():
    assert [duration_seconds(d) for d in ("1d", "2d12h", "1w", "1w1d1h1m1s")] == [86400, 216000, 604800, 694861]
    for wrong in ("1d1w", "2 days", "d", ""):
        with pytest.raises(ValueError, match="is not a duration like 30s, 5m, 1h30m, 2d, 1w"):
            duration_seconds(wrong)


def test_a_manifest_may_count_runs_per_day_and_time_out_after_a_week():
    spec = "  timeout: 1w\n  monitor:\n    maxRuns: {count: 3, per: 1d}\n    maxDuration: 2d\n"
    (job,) = load_files([("production/backup.yaml", GOOD + spec)]).jobs
    monitor = job.manifest.spec.monitor
    assert (job.manifest.spec.timeout, monitor.max_runs.per, monitor.max_duration) == ("1w", "1d", "2d")
    schema = json_schema()["$defs"]["RunCount"]["properties"]["per"]["pattern"]
    assert re.match(schema, "1d") and re.match(schema, "1w2d3h") and not re.match(schema, "0d")


def test_a_blank_command_is_refused_naming_file_line_and_field():
    for blank in ('""', '"   "', '"\\t"'):
        (message,) = errors_of("production/x.yaml", GOOD.replace("command: /bin/true", f"command: {blank}"))
        assert message.startswith("production/x.yaml:8: spec.command: is empty or only whitespace"), message


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules"])
def test_a_host_dependent_or_placeholder_time_zone_is_refused(name):
    text = GOOD + f"  timezone: {name}\n"
    (message,) = errors_of("production/x.yaml", text)
    assert message.startswith(f"production/x.yaml:9: spec.timezone: {name!r} "), message
    assert "use an IANA name such as Europe/Berlin or UTC" in message


# A `find` for running the seeded examples here: it refuses what an example must never do to this
# machine (delete or run anything, look outside $TMPDIR) and otherwise runs the real one.
FIND_GUARD = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in -delete|-exec|-execdir|-ok|-okdir) echo "refused: find $*" >&2; exit 99;; esac
done
case "$1" in "$TMPDIR"/*) ;; *) echo "refused, outside TMPDIR: find $*" >&2; exit 99;; esac
exec {find} "$@"
"""


@pytest.mark.skipif(not (shutil.which("find") and Path("/bin/sh").exists()), reason="needs /bin/sh and find")
def test_the_paused_cleanup_example_once_resumed_lists_old_files_of_its_own_folder_and_deletes_nothing(tmp_path):
    """The make-run agent installs the seeded jobs and runs them as the user who started it."""
    (job,) = [job for job in load_tree(EXAMPLES).jobs if job.manifest.ref == "staging/cleanup-tmp"]
    spec = job.manifest.spec
    argv = [spec.command, *spec.args]
    assert spec.paused and not {"-delete", "rm", "-exec"} & set(" ".join(argv).split()), argv
    guard, temp, home = tmp_path / "bin", tmp_path / "tmp", tmp_path / "home"
    for folder in (guard, temp, home):
        folder.mkdir()
    (guard / "find").write_text(FIND_GUARD.format(find=shutil.which("find")))
    (guard / "find").chmod(0o755)
    env = {**os.environ, **spec.env, "PATH": f"{guard}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(temp),
           "HOME": str(home)}  # fmt: skip
    week_old = time.time() - 8 * 86400
    others = [temp / "someone-elses.log", home / "notes.txt"]
    for path in others:
        path.write_text("keep me")
        os.utime(path, (week_old, week_old))

    first = subprocess.run(argv, env=env, cwd=home, capture_output=True, text=True, timeout=30)
    assert first.returncode == 0, first.stderr
    (own,) = [path for path in temp.iterdir() if path.is_dir()]  # the folder it made for itself
    old = own / "report.csv"
    old.write_text("old")
    os.utime(old, (week_old, week_old))
    second = subprocess.run(argv, env=env, cwd=home, capture_output=True, text=True, timeout=30)

    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == [str(old)]  # what a real clean-up would delete, listed
    assert all(path.exists() for path in [*others, old])


def test_the_documented_examples_are_the_seed_of_new_repositories():
    documented = Path(__file__).resolve().parents[2] / "docs" / "examples" / "job-manifests"
    assert documented.resolve() == EXAMPLES.resolve()


def test_an_unchanged_file_is_parsed_once_however_often_it_is_loaded():
    from crontopus_schemas import manifests

    text = (
        "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: cached, namespace: ops}\n"
        'spec: {schedule: "0 1 * * *", command: /bin/true}\n'
    )
    before = manifests._load_document_cached.cache_info()
    first_jobs, _ = manifests.load_document("ops/cached.yaml", text)
    second_jobs, _ = manifests.load_document("ops/cached.yaml", text)
    changed_jobs, _ = manifests.load_document("ops/cached.yaml", text.replace("0 1", "0 2"))
    after = manifests._load_document_cached.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (2, 1)
    assert first_jobs == second_jobs and first_jobs is not second_jobs  # callers get their own lists
    assert changed_jobs[0].manifest.spec.schedule == "0 2 * * *"


def test_a_command_or_argument_with_a_line_break_or_nul_is_refused_naming_file_line_and_field():
    """A crontab line cannot hold a line break (the agent's crontab backend refuses such a job):
    the manifest is refused where it is written, not on the hosts later."""
    cases = {
        'command: "/bin/echo\\nrm -rf /"': "production/x.yaml:8: spec.command: contains a line break",
        'command: "/bin/echo\\r"': "production/x.yaml:8: spec.command: contains a line break",
        'command: "/bin/echo\\0"': "production/x.yaml:8: spec.command: contains a NUL character",
        'command: /bin/sh\n  args: ["-c", "|"]': "production/x.yaml:9: spec.args.1: contains a line break",
        "command: /bin/sh\n  args:\n  - -c\n  - |\n    echo one\n    echo two": (
            "production/x.yaml:11: spec.args.1: contains a line break"
        ),
    }
    for spec, expected in cases.items():
        text = GOOD.replace("command: /bin/true", spec.replace('"|"', '"a\\nb"'))
        (message,) = errors_of("production/x.yaml", text)
        assert message.startswith(expected), (spec, message)
    assert "put a multi-line script in a file" in message


def test_tabs_and_other_one_line_commands_are_accepted():
    text = GOOD.replace("command: /bin/true", 'command: /bin/sh\n  args: ["-c", "printf \'a\\tb %s\' \\"$HOME\\""]')
    assert errors_of("production/x.yaml", text) == []


def test_the_json_schema_says_command_and_args_are_one_line_and_the_command_not_blank():
    spec = json_schema()["$defs"]["JobSpec"]["properties"]
    for pattern in (spec["command"]["pattern"], spec["args"]["items"]["pattern"]):
        assert re.fullmatch(pattern, "/bin/echo hi\t!") and not re.search(pattern, "a\nb")
    assert not re.search(spec["command"]["pattern"], " \t ") and re.search(spec["args"]["items"]["pattern"], " ")


def test_a_maintenance_window_that_ends_before_it_starts_is_refused():
    window = "  monitor:\n    maintenance:\n      - {start: '2026-12-24T10:00:00Z', end: '2026-12-24T08:00:00Z'}\n"
    (message,) = errors_of("production/x.yaml", GOOD + window)
    assert "spec.monitor.maintenance.0" in message and "end must be after start" in message, message
