"""Folders and files only the user running Crontopus may read, whatever the umask."""

import logging
import os
import stat

import pytest

from crontopus_schemas.private_files import private_dir, private_file


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    """The umask most systems give users: without care, what they create anyone may read."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_folder_is_0700_and_a_new_file_0600(tmp_path):
    folder = private_dir(tmp_path / "data")
    assert mode(folder) == 0o700
    assert mode(private_file(folder / "identity.db")) == 0o600


def test_a_folder_and_files_an_older_version_left_open_are_tightened_with_a_log_line(tmp_path, caplog):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    (folder / "runs.db").write_text("x")
    (folder / "runs.db").chmod(0o644)
    (folder / "nats").mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING):
        private_dir(folder, with_files=True)
    assert (mode(folder), mode(folder / "runs.db")) == (0o700, 0o600)
    assert mode(folder / "nats") == 0o755  # sub-folders are their owners' business (all behind 0700)
    assert f"{folder} could be read by other users (mode 755): made private (700)" in caplog.messages
    assert f"{folder / 'runs.db'} could be read by other users (mode 644): made private (600)" in caplog.messages


def test_a_private_folder_is_left_alone_quietly(tmp_path, caplog):
    folder = private_dir(tmp_path / "data")
    with caplog.at_level(logging.WARNING):
        private_dir(folder, with_files=True)
    assert caplog.messages == []


def test_an_existing_file_keeps_its_content(tmp_path):
    path = tmp_path / "identity.db"
    path.write_text("kept")
    path.chmod(0o644)
    private_file(path)
    assert (path.read_text(), mode(path)) == ("kept", 0o600)


def test_a_link_in_the_folder_to_a_file_elsewhere_is_not_touched(tmp_path):
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("x")
    elsewhere.chmod(0o644)
    folder = private_dir(tmp_path / "data")
    (folder / "link").symlink_to(elsewhere)
    private_dir(folder, with_files=True)
    assert mode(elsewhere) == 0o644
