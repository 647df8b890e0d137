"""The Git layer against real repositories: pygit2 on our side, the `git` binary (clone, push,
`git daemon`) playing the user and the external Git host."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from faststream.nats import NatsBroker

from crontopus_gitops import repo
from crontopus_gitops.repo import (
    AuthenticationFailed,
    Author,
    BasicAuth,
    HeadMoved,
    InvalidPath,
    PathNotFound,
    RemoteError,
    SshKeyAuth,
    TokenAuth,
)
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.nats_server import free_port, port_is_open

ALICE = Author("Alice", "alice@example.com")
BOB = Author("Bob", "bob@example.com")
BACKUP = "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: backup, namespace: production}\n"
REPORT = "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: report, namespace: staging}\n"

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Carol",
    "GIT_AUTHOR_EMAIL": "carol@example.com",
    "GIT_COMMITTER_NAME": "Carol",
    "GIT_COMMITTER_EMAIL": "carol@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "alice.git"
    repo.init_bare(path)
    return path


def seed(path: Path, files: dict[str, str | None], *, expected: str | None = None, author: Author = ALICE) -> str:
    return repo.commit_files(path, branch="main", changes=files, author=author, message="seed", expected_head=expected)


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Starts `git daemon` over a folder and returns the git:// base URL; stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(base: Path, *, receive_pack: bool = False) -> str:
        port = free_port()
        command = ["git", "daemon", "--export-all", f"--base-path={base}", "--reuseaddr"]
        command += [f"--port={port}", "--listen=127.0.0.1", *(["--enable=receive-pack"] if receive_pack else [])]
        processes.append(subprocess.Popen([*command, str(base)], env=GIT_ENV))
        deadline = time.monotonic() + 10
        while not port_is_open("127.0.0.1", port):
            assert time.monotonic() < deadline, "git daemon did not start"
            time.sleep(0.05)
        return f"git://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def upstream_with(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    """An external repository made with the `git` binary, as a user's Git host would hold it."""
    work = tmp_path / "upstream-work"
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first jobs", cwd=work)
    upstream = tmp_path / "served" / "upstream.git"
    git("clone", "-q", "--bare", str(work), str(upstream), cwd=tmp_path)
    return upstream, git("rev-parse", "HEAD", cwd=work).stdout.strip()


# --- commits -------------------------------------------------------------------------------


def test_it_seeds_a_new_branch_and_reads_the_files_back(bare: Path) -> None:
    sha = seed(bare, {"production/backup.yaml": BACKUP, "staging/report.yml": REPORT, "README.md": "# jobs"})

    assert repo.head(bare, branch="main") == sha
    assert repo.read_manifest_files(bare, commit=sha) == [
        ("production/backup.yaml", BACKUP),
        ("staging/report.yml", REPORT),
    ]
    assert git("log", "--format=%an <%ae> %s", "main", cwd=bare).stdout == "Alice <alice@example.com> seed\n"


def test_the_git_binary_sees_the_commit_as_a_normal_one(bare: Path) -> None:
    seed(bare, {"production/backup.yaml": BACKUP})

    assert git("show", "main:production/backup.yaml", cwd=bare).stdout == BACKUP
    git("fsck", "--strict", cwd=bare)


def test_it_changes_nested_files_and_keeps_the_others(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP, "staging/report.yaml": REPORT})

    second = seed(bare, {"production/db/vacuum.yaml": "x: 1\n", "production/backup.yaml": "y: 2\n"}, expected=first)

    assert repo.read_manifest_files(bare, commit=second) == [
        ("production/backup.yaml", "y: 2\n"),
        ("production/db/vacuum.yaml", "x: 1\n"),
        ("staging/report.yaml", REPORT),
    ]
    assert repo.read_manifest_files(bare, commit=first) == [
        ("production/backup.yaml", BACKUP),
        ("staging/report.yaml", REPORT),
    ]


def test_the_author_may_be_a_plain_name_and_email_pair(bare: Path) -> None:
    sha = repo.commit_files(
        bare, branch="main", changes={"a.yaml": "x\n"}, author=("Crontopus", "crontopus@localhost"),
        message="Example jobs", expected_head=None,
    )  # fmt: skip

    assert repo.commit_info(bare, commit=sha).author_email == "crontopus@localhost"


def test_deleting_the_last_file_of_a_folder_removes_the_folder(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP, "staging/report.yaml": REPORT})

    second = seed(bare, {"staging/report.yaml": None}, expected=first)

    assert repo.read_manifest_files(bare, commit=second) == [("production/backup.yaml", BACKUP)]
    assert git("ls-tree", "--name-only", "main", cwd=bare).stdout == "production\n"


def test_deleting_a_missing_file_is_an_error_and_commits_nothing(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})

    with pytest.raises(PathNotFound, match=r"nope\.yaml"):
        seed(bare, {"production/nope.yaml": None}, expected=first)
    with pytest.raises(PathNotFound):
        seed(bare, {"staging/nope.yaml": None}, expected=first)
    assert repo.head(bare, branch="main") == first


@pytest.mark.parametrize("path", ["../escape.yaml", "/etc/passwd", "a//b.yaml", ".git/config", "a/./b.yaml", ""])
def test_it_refuses_paths_outside_the_tree(bare: Path, path: str) -> None:
    with pytest.raises(InvalidPath):
        seed(bare, {path: BACKUP})
    assert repo.head(bare, branch="main") is None


def test_it_refuses_to_write_a_file_where_a_folder_is(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})

    with pytest.raises(InvalidPath, match="folder"):
        seed(bare, {"production": "oops"}, expected=first)
    with pytest.raises(InvalidPath, match="file"):
        seed(bare, {"production/backup.yaml/x.yaml": "oops"}, expected=first)


def test_a_commit_based_on_an_old_head_is_refused_and_the_branch_is_unchanged(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})
    second = seed(bare, {"production/backup.yaml": "edited by bob\n"}, expected=first, author=BOB)

    with pytest.raises(HeadMoved) as refused:
        seed(bare, {"production/backup.yaml": "edited by alice\n"}, expected=first)

    assert refused.value.current == second
    assert refused.value.code == "conflict"  # the gateway answers 409
    assert repo.head(bare, branch="main") == second
    assert repo.read_manifest_files(bare, commit=second) == [("production/backup.yaml", "edited by bob\n")]


def test_seeding_a_branch_that_already_exists_is_refused(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})

    with pytest.raises(HeadMoved) as refused:
        seed(bare, {"staging/report.yaml": REPORT}, expected=None)

    assert refused.value.current == first


def race(bare: Path, *, base: str, writers: int) -> list[str]:
    """`writers` threads commit on the same head at the same moment; returns who won and lost."""
    outcomes: list[str] = []
    barrier = threading.Barrier(writers)

    def edit(writer: int) -> None:
        barrier.wait()
        try:
            repo.commit_files(
                bare,
                branch="main",
                changes={"production/backup.yaml": f"{base} writer {writer}\n"},
                author=ALICE,
                message=f"writer {writer}",
                expected_head=base,
            )
            outcomes.append("won")
        except HeadMoved:
            outcomes.append("lost")

    threads = [threading.Thread(target=edit, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_only_one_of_concurrent_commits_on_the_same_head_wins(bare: Path) -> None:
    head = seed(bare, {"production/backup.yaml": BACKUP})
    for _ in range(15):
        assert race(bare, base=head, writers=4) == ["lost", "lost", "lost", "won"]

        new_head = repo.head(bare, branch="main")
        assert new_head is not None and new_head != head
        assert repo.commit_info(bare, commit=new_head).message.startswith("writer")
        head = new_head


RACER = """
import sys
from pathlib import Path
from crontopus_gitops import repo
path, writer = Path(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # start together
for attempt in range(30):
    base = repo.head(path, branch="main")
    try:
        print(repo.commit_files(path, branch="main", changes={"production/backup.yaml": f"{writer} {attempt}"},
                                author=repo.Author(writer, "w@example.com"), message=writer, expected_head=base))
    except repo.HeadMoved:
        pass
"""


def test_commits_from_several_processes_never_lose_one(bare: Path) -> None:
    """Several service workers commit on the same branch: every commit that was reported as
    made is in the history, i.e. the ref lock of one worker is never overwritten by another."""
    first = seed(bare, {"production/backup.yaml": BACKUP})
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(bare), f"w{n}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for n in range(6)
    ]
    for racer in racers:  # all imported before any starts
        assert racer.stdout is not None and racer.stdout.readline() == b"ready\n"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write(b"go\n")
        racer.stdin.close()
    outputs = [racer.stdout.read().decode().split() for racer in racers if racer.stdout]
    for racer in racers:
        racer.wait(timeout=60)

    won = {sha for output in outputs for sha in output}
    head = repo.head(bare, branch="main")
    assert head is not None
    linear = git("rev-list", "--first-parent", head, cwd=bare).stdout.split()
    assert set(linear) == won | {first}
    assert all(racer.returncode == 0 for racer in racers)


def test_saving_unchanged_files_makes_no_new_commit(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})

    assert seed(bare, {"production/backup.yaml": BACKUP}, expected=first) == first


def test_init_bare_leaves_an_existing_repository_alone(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP})

    repo.init_bare(bare, branch="other")

    assert repo.head(bare, branch="main") == first
    assert git("symbolic-ref", "HEAD", cwd=bare).stdout.strip() == "refs/heads/main"


def test_a_repository_inside_another_repositorys_folder_is_its_own(tmp_path: Path) -> None:
    git("init", "-q", str(tmp_path), cwd=tmp_path)  # e.g. a data folder inside a checkout
    inner = tmp_path / "data" / "alice.git"
    inner.mkdir(parents=True)

    repo.init_bare(inner)
    seed(inner, {"production/backup.yaml": BACKUP})

    assert (inner / "HEAD").is_file()
    assert git("rev-list", "--all", cwd=tmp_path).stdout == ""  # the outer repository got no commit
    with pytest.raises(repo.GitError, match="not a Git repository"):
        repo.head(tmp_path / "data", branch="main")


# --- reading -------------------------------------------------------------------------------


def test_read_manifest_files_skips_hidden_and_other_files_and_leaves_large_ones_unread(bare: Path) -> None:
    sha = seed(
        bare,
        {
            "production/backup.yaml": BACKUP,
            "production/.draft.yaml": BACKUP,
            ".github/workflows/ci.yaml": "on: push\n",
            "production/huge.yaml": "#" * (256 * 1024 + 1),
            "production/notes.txt": "not a job",
            "production/binary.yaml": "caf\udce9".encode("utf-8", "surrogateescape").decode("latin-1"),
        },
    )

    files = repo.read_manifest_files(bare, commit=sha)

    assert [name for name, _ in files] == ["production/backup.yaml", "production/binary.yaml", "production/huge.yaml"]
    assert dict(files)["production/huge.yaml"] is None, "listed, so the parser reports it, but not read"


def test_read_manifest_files_of_a_folder_gives_paths_relative_to_it(bare: Path) -> None:
    sha = seed(bare, {"tenants/alice/production/backup.yaml": BACKUP, "tenants/bob/x.yaml": REPORT})

    assert repo.read_manifest_files(bare, commit=sha, folder="tenants/alice") == [("production/backup.yaml", BACKUP)]
    assert repo.read_manifest_files(bare, commit=sha, folder="missing") == []


def test_reading_an_unknown_commit_is_not_found(bare: Path) -> None:
    seed(bare, {"production/backup.yaml": BACKUP})

    with pytest.raises(repo.UnknownRevision):
        repo.read_manifest_files(bare, commit="0" * 40)


def test_changed_paths_between_two_commits(bare: Path) -> None:
    first = seed(bare, {"production/backup.yaml": BACKUP, "staging/report.yaml": REPORT})
    second = seed(
        bare,
        {"production/backup.yaml": "changed\n", "staging/report.yaml": None, "dev/new.yaml": "x\n"},
        expected=first,
    )

    assert repo.changed_paths(bare, old=first, new=second) == {
        "production/backup.yaml": "modified",
        "staging/report.yaml": "deleted",
        "dev/new.yaml": "added",
    }
    assert repo.changed_paths(bare, old=None, new=first) == {
        "production/backup.yaml": "added",
        "staging/report.yaml": "added",
    }


def test_commit_info_gives_author_message_and_an_aware_time(bare: Path) -> None:
    sha = seed(bare, {"production/backup.yaml": BACKUP})

    info = repo.commit_info(bare, commit=sha)

    assert (info.sha, info.author_name, info.author_email, info.message) == (sha, "Alice", "alice@example.com", "seed")
    assert info.committed_at.tzinfo is not None
    assert abs(info.committed_at.timestamp() - time.time()) < 60


def test_history_of_a_file_lists_the_commits_that_touched_it_newest_first(bare: Path) -> None:
    shas = [seed(bare, {"production/backup.yaml": "v1\n"})]
    shas.append(seed(bare, {"staging/report.yaml": REPORT}, expected=shas[-1]))  # not about backup
    shas.append(seed(bare, {"production/backup.yaml": "v2\n"}, expected=shas[-1], author=BOB))
    shas.append(seed(bare, {"production/backup.yaml": "v3\n"}, expected=shas[-1]))

    found = repo.history(bare, commit=shas[-1], file_path="production/backup.yaml")

    assert [c.sha for c in found] == [shas[3], shas[2], shas[0]]
    assert [c.author_name for c in found] == ["Alice", "Bob", "Alice"]
    assert [c.sha for c in repo.history(bare, commit=shas[-1], file_path="production/backup.yaml", limit=2)] == [
        shas[3],
        shas[2],
    ]
    assert repo.history(bare, commit=shas[2], file_path="staging/report.yaml")[0].sha == shas[1]


# --- pushes from users, with the post-receive hook ----------------------------------------

MARKER_HOOK = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())"


def push_a_new_file(bare: Path, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone), cwd=tmp_path)
    (clone / name).parent.mkdir(parents=True, exist_ok=True)
    (clone / name).write_text(REPORT)
    git("add", name, cwd=clone)
    git("commit", "-q", "-m", f"add {name}", cwd=clone)
    return git("push", "origin", "main", cwd=clone)


def test_a_git_push_runs_the_hook_and_the_new_file_is_read_at_the_new_head(bare: Path, tmp_path: Path) -> None:
    before = seed(bare, {"production/backup.yaml": BACKUP})
    marker = tmp_path / "marker with 'quotes' and spaces.txt"
    repo.install_post_receive_hook(bare, command=[sys.executable, "-c", MARKER_HOOK, str(marker)])

    push_a_new_file(bare, tmp_path, "staging/report.yaml")

    after = repo.head(bare, branch="main")
    assert after is not None and after != before
    assert marker.read_text() == f"{before} {after} refs/heads/main\n"
    assert ("staging/report.yaml", REPORT) in repo.read_manifest_files(bare, commit=after)
    assert repo.changed_paths(bare, old=before, new=after) == {"staging/report.yaml": "added"}
    assert repo.commit_info(bare, commit=after).author_name == "Carol"


def test_a_failing_hook_warns_but_does_not_fail_the_push(bare: Path, tmp_path: Path) -> None:
    seed(bare, {"production/backup.yaml": BACKUP})
    repo.install_post_receive_hook(bare, command=[sys.executable, "-c", "raise SystemExit(3)"])

    pushed = push_a_new_file(bare, tmp_path, "staging/report.yaml")

    assert "could not notify the gitops service" in pushed.stderr
    assert repo.read_manifest_files(bare, commit="main")[-1] == ("staging/report.yaml", REPORT)


def test_the_hook_is_executable_and_replaced_on_reinstall(bare: Path) -> None:
    repo.install_post_receive_hook(bare, command=["first"])
    repo.install_post_receive_hook(bare, command=["second", "tenant a"])

    hook = bare / "hooks" / "post-receive"
    assert hook.stat().st_mode & stat.S_IXUSR
    assert "second 'tenant a'" in hook.read_text() and "first" not in hook.read_text()
    assert not list(hook.parent.glob("*crontopus-tmp*"))


# --- external repositories ------------------------------------------------------------------


def test_mirror_fetch_from_a_local_path_follows_the_upstream_even_when_force_pushed(tmp_path: Path) -> None:
    upstream, first = upstream_with(tmp_path, {"production/backup.yaml": BACKUP})
    mirror = tmp_path / "mirror.git"

    assert repo.mirror_fetch(mirror, url=str(upstream), branch="main", credentials=None) == first
    assert repo.read_manifest_files(mirror, commit=first) == [("production/backup.yaml", BACKUP)]

    work = tmp_path / "upstream-work"
    (work / "production/backup.yaml").write_text("rewritten\n")
    git("commit", "-q", "-a", "--amend", "-m", "rewritten history", cwd=work)
    git("push", "-q", "--force", str(upstream), "main", cwd=work)
    rewritten = git("rev-parse", "HEAD", cwd=work).stdout.strip()

    assert repo.mirror_fetch(mirror, url=str(upstream), branch="main", credentials=None) == rewritten
    assert repo.head(mirror, branch="main") == rewritten


def test_mirror_fetch_over_git_daemon(tmp_path: Path, git_daemon: Callable[..., str]) -> None:
    upstream, first = upstream_with(tmp_path, {"production/backup.yaml": BACKUP, "staging/report.yaml": REPORT})
    url = f"{git_daemon(upstream.parent)}/upstream.git"
    mirror = tmp_path / "mirror.git"

    assert repo.mirror_fetch(mirror, url=url, branch="main", credentials=None) == first
    assert [name for name, _ in repo.read_manifest_files(mirror, commit=first)] == [
        "production/backup.yaml",
        "staging/report.yaml",
    ]
    assert repo.mirror_fetch(mirror, url=url, branch="main", credentials=None) == first  # nothing new: same head


def test_mirror_fetch_of_an_unreachable_url_names_it_without_the_secret(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there

    with pytest.raises(RemoteError) as refused:
        repo.mirror_fetch(
            tmp_path / "mirror.git",
            url=f"http://robot:s3cret@127.0.0.1:{port}/jobs.git",
            branch="main",
            credentials=TokenAuth(token="t0ken"),
        )

    message = str(refused.value)
    assert f"http://robot@127.0.0.1:{port}/jobs.git" in message
    assert "s3cret" not in message and "t0ken" not in message
    assert refused.value.code == "unavailable"


def test_mirror_fetch_of_a_local_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="no Git repository at that URL"):
        repo.mirror_fetch(tmp_path / "mirror.git", url=str(tmp_path / "nope.git"), branch="main", credentials=None)


def test_mirror_fetch_of_a_missing_branch_is_an_error(tmp_path: Path) -> None:
    upstream, _ = upstream_with(tmp_path, {"production/backup.yaml": BACKUP})

    with pytest.raises(RemoteError, match="no branch 'jobs'"):
        repo.mirror_fetch(tmp_path / "mirror.git", url=str(upstream), branch="jobs", credentials=None)


class _InternalService(BaseHTTPRequestHandler):
    """Not a Git host: an internal service that answers with its own error page."""

    def do_GET(self) -> None:
        body = b"db-password=hunter2 stack trace of internal-billing"
        self.send_response(500, "Internal billing failure")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_error_never_repeats_what_the_remote_answered(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InternalService)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with pytest.raises(RemoteError) as refused:
            repo.mirror_fetch(
                tmp_path / "m.git", url=f"http://127.0.0.1:{server.server_address[1]}/x.git", branch="main"
            )
    finally:
        server.shutdown()
        server.server_close()

    message = refused.value.message
    assert "500" not in message and "billing" not in message and "hunter2" not in message
    assert message.endswith("the answer was not a Git repository's")
    assert "500" in refused.value.detail  # for the server log


def test_a_fetch_still_moving_data_after_its_deadline_is_abandoned(tmp_path: Path) -> None:
    upstream, _ = upstream_with(tmp_path, {"production/backup.yaml": BACKUP})

    with pytest.raises(RemoteError, match="it took too long") as late:
        repo.mirror_fetch(tmp_path / "m.git", url=str(upstream), branch="main", deadline=time.monotonic() - 1)

    assert late.value.reason == "deadline"
    assert repo.head(tmp_path / "m.git", branch="main") is None


class _AlwaysUnauthorized(BaseHTTPRequestHandler):
    """A Git host that refuses every credential: answers 401 and counts the attempts."""

    attempts: list[str | None] = []

    def do_GET(self) -> None:
        type(self).attempts.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unauthorized_host() -> Iterator[str]:
    _AlwaysUnauthorized.attempts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysUnauthorized)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jobs.git"
    server.shutdown()
    server.server_close()


def test_refused_credentials_give_a_clear_error_once_not_a_retry_loop(tmp_path: Path, unauthorized_host: str) -> None:
    with pytest.raises(AuthenticationFailed) as refused:
        repo.mirror_fetch(
            tmp_path / "mirror.git", url=unauthorized_host, branch="main", credentials=BasicAuth("robot", "pw-123")
        )

    assert unauthorized_host in str(refused.value) and "refused" in str(refused.value)
    assert "pw-123" not in str(refused.value)
    assert refused.value.code == "invalid"
    assert len([a for a in _AlwaysUnauthorized.attempts if a]) == 1  # the credential was offered once


def test_a_host_that_wants_credentials_when_none_are_configured(tmp_path: Path, unauthorized_host: str) -> None:
    with pytest.raises(AuthenticationFailed, match="none are configured"):
        repo.mirror_fetch(tmp_path / "mirror.git", url=unauthorized_host, branch="main", credentials=None)


def test_credentials_do_not_show_in_their_repr() -> None:
    shown = repr(
        [TokenAuth(token="t0ken"), BasicAuth("robot", "pw-123"), SshKeyAuth(private_key="KEY", passphrase="pp")]
    )

    assert "t0ken" not in shown and "pw-123" not in shown and "KEY" not in shown and "'pp'" not in shown


def test_ssh_keys_live_in_a_private_file_only_during_the_call() -> None:
    with repo._key_file(SshKeyAuth(private_key="-----BEGIN KEY-----", public_key="ssh-ed25519 AAA")) as key:
        assert key is not None
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert key.read_text() == "-----BEGIN KEY-----\n"
        assert key.with_suffix(".pub").read_text() == "ssh-ed25519 AAA\n"
    assert not key.parent.exists()


def test_push_to_an_external_repository_and_refusal_when_it_moved(
    tmp_path: Path, git_daemon: Callable[..., str]
) -> None:
    upstream, first = upstream_with(tmp_path, {"production/backup.yaml": BACKUP})
    url = f"{git_daemon(upstream.parent, receive_pack=True)}/upstream.git"
    mirror = tmp_path / "mirror.git"
    repo.mirror_fetch(mirror, url=url, branch="main", credentials=None)

    ours = seed(mirror, {"staging/report.yaml": REPORT}, expected=first)
    repo.push(mirror, url=url, branch="main", credentials=None)
    assert git("rev-parse", "main", cwd=upstream).stdout.strip() == ours

    # Someone else pushes to the external repository; our next local commit is now behind.
    work = tmp_path / "upstream-work"
    git("pull", "-q", str(upstream), "main", cwd=work)
    (work / "dev.yaml").write_text("x: 1\n")
    git("add", "dev.yaml", cwd=work)
    git("commit", "-q", "-m", "theirs", cwd=work)
    git("push", "-q", str(upstream), "main", cwd=work)
    theirs = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    seed(mirror, {"staging/report.yaml": "ours again\n"}, expected=ours)

    with pytest.raises(HeadMoved) as refused:
        repo.push(mirror, url=url, branch="main", credentials=None)

    assert refused.value.current == theirs
    assert git("rev-parse", "main", cwd=upstream).stdout.strip() == theirs
    assert repo.mirror_fetch(mirror, url=url, branch="main", credentials=None) == theirs  # the retry starts here


def test_committed_at_keeps_the_committers_offset(bare: Path, tmp_path: Path) -> None:
    seed(bare, {"production/backup.yaml": BACKUP})
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone), cwd=tmp_path)
    (clone / "x.yaml").write_text("x\n")
    git("add", "x.yaml", cwd=clone)
    env = {**GIT_ENV, "GIT_COMMITTER_DATE": "2024-03-31T03:30:00+0200"}
    subprocess.run(["git", "commit", "-q", "-m", "dst"], cwd=clone, env=env, check=True)
    sha = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    git("push", "-q", "origin", "main", cwd=clone)

    info = repo.commit_info(bare, commit=sha)

    assert info.committed_at.utcoffset() == timedelta(hours=2)
    assert info.committed_at.isoformat() == "2024-03-31T03:30:00+02:00"


async def test_a_repositories_folder_outside_the_data_dir_is_private_too(tmp_path: Path, settings_factory) -> None:
    elsewhere = tmp_path / "srv" / "git"
    elsewhere.mkdir(parents=True, mode=0o755)
    elsewhere.chmod(0o755)
    unit = GitopsUnit(settings_factory(GitopsSettings, repos_dir=elsewhere), broker=NatsBroker())
    await unit.prepare()
    await unit.db.dispose()
    assert elsewhere.stat().st_mode & 0o777 == 0o700
