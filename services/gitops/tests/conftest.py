"""Fixtures of the gitops tests: Git hosts on loopback (crontopus_gitops.testing)."""

from crontopus_gitops.testing import git_http, silent_host

__all__ = ["git_http", "silent_host"]
