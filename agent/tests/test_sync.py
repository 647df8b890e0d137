"""The agent's repository mirror: real Git repositories (the ``git`` binary) as remotes, by local
path, file:// and smart HTTP (``git http-backend`` behind a loopback server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from crontopus_agent.sync import Mirror, SyncError, _advertised, mirror_for, remote_head
from crontopus_agent.testing import JobsRepo, manifest
from crontopus_gitops.testing import serve_git_http


@pytest.fixture
def remote(tmp_path: Path) -> JobsRepo:
    return JobsRepo(tmp_path / "remote")


def test_it_clones_on_first_sync_and_picks_up_a_new_commit(remote: JobsRepo, tmp_path: Path) -> None:
    first = remote.commit({"prod/backup.yaml": manifest("backup")})
    mirror = mirror_for(tmp_path / "home", url=str(remote.path), branch="main", folder="")

    snapshot = mirror.sync()
    assert snapshot.commit == first
    assert [m.ref for m in snapshot.manifests] == ["prod/backup"]
    assert (tmp_path / "home" / "repo" / "HEAD").exists()  # a bare mirror: no working tree to trust

    second = remote.commit({"prod/report.yaml": manifest("report")})
    snapshot = mirror.sync()
    assert snapshot.commit == second
    assert [m.ref for m in snapshot.manifests] == ["prod/backup", "prod/report"]


def test_a_bad_manifest_is_skipped_and_the_good_ones_load(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit(
        {
            "prod/good.yaml": manifest("good"),
            "prod/broken.yaml": "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: [\n",
            "prod/wrong.yaml": manifest("wrong", schedule="every tuesday"),
        }
    )
    snapshot = Mirror(tmp_path / "mirror", url=str(remote.path)).sync()

    assert [m.ref for m in snapshot.manifests] == ["prod/good"]
    assert sorted({error.file for error in snapshot.errors}) == ["prod/broken.yaml", "prod/wrong.yaml"]


def test_a_new_file_reusing_a_jobs_name_changes_nothing_this_host_runs(remote: JobsRepo, tmp_path: Path) -> None:
    """As the server keeps it: the job keeps its file, the new one is the error."""
    remote.commit({"prod/hello.yaml": manifest("hello", schedule="* * * * *")})
    mirror = Mirror(tmp_path / "mirror", url=str(remote.path))
    mirror.sync()
    remote.commit({"prod/a-dup.yaml": manifest("hello", schedule="0 0 * * *")})  # sorts first
    snapshot = mirror.sync()

    assert [(m.ref, m.spec.schedule) for m in snapshot.manifests] == [("prod/hello", "* * * * *")]
    assert [error.file for error in snapshot.errors] == ["prod/a-dup.yaml"]


def test_an_oversized_manifest_is_an_error_and_the_good_ones_load(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit({"prod/good.yaml": manifest("good"), "prod/huge.yaml": manifest("huge") + "#" * (5 * 1024 * 1024)})
    snapshot = Mirror(tmp_path / "mirror", url=str(remote.path)).sync()

    assert [m.ref for m in snapshot.manifests] == ["prod/good"]
    assert [str(error) for error in snapshot.errors] == [
        "prod/huge.yaml: larger than 256 KiB, the most a manifest may be: none of its jobs are loaded"
    ]


def test_only_manifests_under_the_folder_are_read(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit(
        {
            "jobs/prod/inside.yaml": manifest("inside"),
            "prod/outside.yaml": manifest("outside"),
            "jobs/prod/notes.txt": "not a manifest",
            "jobs/.hidden/secret.yaml": manifest("secret", ".hidden"),
        }
    )
    snapshot = Mirror(tmp_path / "mirror", url=str(remote.path), folder="/jobs/").sync()

    assert [path for path, _ in snapshot.files] == ["prod/inside.yaml"]
    assert [m.ref for m in snapshot.manifests] == ["prod/inside"]


def test_a_commit_without_the_folder_has_no_jobs(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    snapshot = Mirror(tmp_path / "mirror", url=str(remote.path), folder="jobs").sync()
    assert snapshot.files == [] and snapshot.manifests == []


def test_an_unreachable_remote_raises_sync_error_and_the_last_commit_stays(remote: JobsRepo, tmp_path: Path) -> None:
    first = remote.commit({"prod/backup.yaml": manifest("backup")})
    mirror = Mirror(tmp_path / "mirror", url=str(remote.path))
    mirror.sync()
    shutil.rmtree(remote.path)

    with pytest.raises(SyncError, match="no repository there"):
        mirror.sync()

    last = mirror.last()
    assert last is not None and last.commit == first
    assert [m.ref for m in last.manifests] == ["prod/backup"]


def test_a_missing_branch_is_a_sync_error(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    with pytest.raises(SyncError, match="has no branch 'release'"):
        Mirror(tmp_path / "mirror", url=str(remote.path), branch="release").sync()


def test_an_empty_remote_is_a_sync_error_and_nothing_is_known(remote: JobsRepo, tmp_path: Path) -> None:
    mirror = Mirror(tmp_path / "mirror", url=str(remote.path))
    with pytest.raises(SyncError, match="has no branch 'main'"):
        mirror.sync()
    assert mirror.last() is None


def test_no_clone_url_is_a_sync_error(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="no jobs repository is configured"):
        Mirror(tmp_path / "mirror", url=None).sync()


def test_a_force_push_replaces_what_the_mirror_had(remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit({"prod/a.yaml": manifest("a")})
    mirror = Mirror(tmp_path / "mirror", url=str(remote.path))
    mirror.sync()
    remote.git("checkout", "-q", "--orphan", "rewritten")
    remote.git("rm", "-q", "-rf", ".")
    replaced = remote.commit({"prod/b.yaml": manifest("b")})
    remote.git("branch", "-f", "main", "rewritten")

    snapshot = mirror.sync()
    assert snapshot.commit == replaced
    assert [m.ref for m in snapshot.manifests] == ["prod/b"]


def test_file_urls_work(remote: JobsRepo, tmp_path: Path) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    assert Mirror(tmp_path / "mirror", url=remote.path.as_uri()).sync().commit == sha


def test_an_unreadable_mirror_is_rebuilt(remote: JobsRepo, tmp_path: Path) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "junk").write_text("not a repository")
    assert Mirror(tmp_path / "mirror", url=str(remote.path)).sync().commit == sha


# --- smart HTTP ------------------------------------------------------------------------------


@pytest.fixture
def login() -> tuple[str, str] | None:
    return None


@pytest.fixture
def http_root(tmp_path: Path, login: tuple[str, str] | None) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    with serve_git_http(root, login=login) as host:
        yield host.base_url, root


def test_http_clone_urls_work(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    repo = JobsRepo(root / "jobs.git")
    first = repo.commit({"prod/backup.yaml": manifest("backup")})
    mirror = Mirror(tmp_path / "mirror", url=f"{base}/jobs.git")
    assert mirror.sync().commit == first

    second = repo.commit({"prod/report.yaml": manifest("report")})
    assert [m.ref for m in mirror.sync().manifests] == ["prod/backup", "prod/report"]
    assert mirror.head() == second


def test_an_error_never_shows_the_password_in_the_url(tmp_path: Path) -> None:
    from crontopus_kit.nats_server import free_port

    url = f"http://robot:s3cret@127.0.0.1:{free_port()}/jobs.git"
    with pytest.raises(SyncError) as caught:
        Mirror(tmp_path / "mirror", url=url).sync()
    assert "s3cret" not in str(caught.value)
    assert "robot@127.0.0.1" in str(caught.value)


@pytest.mark.parametrize("login", [("robot", "token-123")])
def test_a_private_http_repository_is_fetched_with_the_hosts_login(
    http_root: tuple[str, Path], tmp_path: Path, login: tuple[str, str]
) -> None:
    base, root = http_root
    sha = JobsRepo(root / "jobs.git").commit({"prod/backup.yaml": manifest("backup")})
    assert Mirror(tmp_path / "mirror", url=f"{base}/jobs.git", login=login).sync().commit == sha


@pytest.mark.parametrize("login", [("robot", "token-123")])
def test_a_missing_or_refused_login_says_so_and_keeps_the_last_commit(
    http_root: tuple[str, Path], tmp_path: Path, login: tuple[str, str]
) -> None:
    base, root = http_root
    repo = JobsRepo(root / "jobs.git")
    first = repo.commit({"prod/backup.yaml": manifest("backup")})
    Mirror(tmp_path / "mirror", url=f"{base}/jobs.git", login=login).sync()
    repo.commit({"prod/report.yaml": manifest("report")})

    with pytest.raises(SyncError, match="needs a login"):
        Mirror(tmp_path / "mirror", url=f"{base}/jobs.git").sync()
    with pytest.raises(SyncError, match="refused this host's login") as refused:
        Mirror(tmp_path / "mirror", url=f"{base}/jobs.git", login=("robot", "wrong-password")).sync()
    assert "wrong-password" not in str(refused.value)
    assert Mirror(tmp_path / "mirror", url=f"{base}/jobs.git").head() == first


# --- the cheap check before a fetch ---------------------------------------------------------------


def test_the_remote_head_is_read_without_git_from_loose_and_packed_refs(remote: JobsRepo, tmp_path: Path) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    assert remote_head(str(remote.path), "main") == sha
    assert remote_head(remote.path.as_uri(), "main") == sha
    remote.git("pack-refs", "--all")  # what `git gc` does: the branch moves into packed-refs
    assert not (remote.path / ".git/refs/heads/main").exists()
    assert remote_head(str(remote.path), "main") == sha
    bare = tmp_path / "bare.git"
    remote.git("clone", "-q", "--bare", str(remote.path), str(bare))
    assert remote_head(str(bare), "main") == sha
    assert remote_head(str(remote.path), "release") is None
    assert remote_head(str(remote.path), "../../HEAD") is None
    assert remote_head(str(tmp_path / "nothing-here"), "main") is None


@pytest.mark.parametrize("login", [("robot", "token-123")])
def test_the_remote_head_is_read_from_the_http_advertisement_with_the_login(
    http_root: tuple[str, Path], login: tuple[str, str]
) -> None:
    base, root = http_root
    sha = JobsRepo(root / "jobs.git").commit({"prod/backup.yaml": manifest("backup")})
    assert remote_head(f"{base}/jobs.git", "main", login) == sha
    assert remote_head(f"{base}/jobs.git", "release", login) is None
    assert remote_head(f"{base}/jobs.git", "main", ("robot", "wrong")) is None  # 401: Git will say so
    assert remote_head(f"{base}/missing.git", "main", login) is None


def test_an_unchanged_remote_is_not_fetched_again(tmp_path: Path) -> None:
    root = tmp_path / "served"
    root.mkdir()
    with serve_git_http(root) as host:
        repo = JobsRepo(root / "jobs.git")
        first = repo.commit({"prod/backup.yaml": manifest("backup")})
        mirror = Mirror(tmp_path / "mirror", url=f"{host.base_url}/jobs.git")
        snapshot = mirror.sync()
        fetches = sum("git-upload-pack" in path and "info/refs" not in path for path in host.requests)

        assert mirror.sync() is snapshot and snapshot.commit == first
        assert sum("git-upload-pack" in path and "info/refs" not in path for path in host.requests) == fetches

        repo.commit({"prod/report.yaml": manifest("report")})
        assert [m.ref for m in mirror.sync().manifests] == ["prod/backup", "prod/report"]


def test_the_daemon_process_never_loads_libgit2() -> None:
    """pygit2 (libgit2 and its own OpenSSL, ~12 MB resident) lives in the short-lived fetch process."""
    code = "import sys, crontopus_agent.daemon, crontopus_agent.cli; print('pygit2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_the_advertisement_parser_finds_the_branch_among_capabilities_and_tags() -> None:
    def pkt(line: bytes) -> bytes:
        return f"{len(line) + 4:04x}".encode() + line

    main, tag = "a" * 40, "b" * 40
    body = (pkt(b"# service=git-upload-pack\n") + b"0000" + pkt(f"{tag} refs/tags/v1\0multi_ack side-band\n".encode())
            + pkt(f"{main} refs/heads/main\n".encode()) + b"0000")  # fmt: skip
    assert _advertised(body, b"refs/heads/main") == main
    assert _advertised(body, b"refs/heads/mai") is None


@pytest.fixture
def another_users_repository() -> Iterator[tuple[Path, list[str], str]]:
    """A repository in a folder the agent may not enter, an agent home, and how to run the fetch
    process denied it, with the agent's user name. As root: the folder belongs to ``nobody`` and
    the process runs as root without the capabilities that override file permissions (switching
    to ``nobody`` instead would also deny it this checkout's Python, in a private folder)."""
    if sys.platform == "win32":
        pytest.skip("POSIX permissions")
    import pwd

    shared = Path(tempfile.mkdtemp(prefix="crontopus-perm-"))
    (shared / "home").mkdir(mode=0o700)
    JobsRepo(shared / "private" / "repos" / "t").commit({"prod/backup.yaml": manifest("backup")})
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv is missing: no way to be denied a folder")
        for path in [shared / "private", *(shared / "private").rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
        (shared / "private").chmod(0o700)
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    else:
        (shared / "private").chmod(0o000)
        prefix = []
    yield shared, prefix, pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() != 0:
        (shared / "private").chmod(0o700)
    shutil.rmtree(shared)


def test_a_repository_the_agent_may_not_read_is_one_line_naming_the_path_and_the_user(
    another_users_repository: tuple[Path, list[str], str],
) -> None:
    shared, as_user, user = another_users_repository
    url = str(shared / "private" / "repos" / "t")
    request = {"op": "fetch", "path": str(shared / "home" / "repo"), "url": url, "branch": "main", "folder": "",
               "login": None}  # fmt: skip
    done = subprocess.run(  # the fetch process, as the daemon starts it (sync.Mirror)
        [*as_user, sys.executable, "-m", "crontopus_agent.git_mirror"], input=json.dumps(request),
        capture_output=True, text=True, env={**os.environ, "HOME": str(shared / "home")}, timeout=60,
    )  # fmt: skip

    assert (done.returncode, done.stderr) == (0, "")  # no traceback for the daemon to log line by line
    assert json.loads(done.stdout) == {
        "error": f"cannot fetch branch 'main' from {url}: permission denied: the agent runs as user {user}; "
        "the path must be readable by it"
    }
