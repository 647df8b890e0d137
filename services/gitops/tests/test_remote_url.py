"""The rule for external repository URLs: remote Git hosts only, read the same way by Python and
libgit2, with a message that says what to write instead."""

import pytest

from crontopus_gitops.remote_url import RefusedUrl, parse


@pytest.mark.parametrize(
    ("url", "scheme", "user", "host", "port", "path"),
    [
        ("https://github.com/acme/jobs.git", "https", None, "github.com", 443, "/acme/jobs.git"),
        ("https://robot:s3cret@git.example.com:8443/jobs", "https", "robot", "git.example.com", 8443, "/jobs"),
        ("https://org@dev.azure.com/org/My%20Project/_git/jobs", "https", "org", "dev.azure.com", 443,
         "/org/My%20Project/_git/jobs"),
        ("ssh://git@gitlab.com/acme/jobs.git", "ssh", "git", "gitlab.com", 22, "/acme/jobs.git"),
        ("ssh://git@git.example.com:2222/~/jobs.git", "ssh", "git", "git.example.com", 2222, "/~/jobs.git"),
        ("https://Git.Example.COM/jobs", "https", None, "git.example.com", 443, "/jobs"),
        ("https://192.0.2.10/jobs.git", "https", None, "192.0.2.10", 443, "/jobs.git"),
        ("https://[2001:db8::1]:8443/jobs.git", "https", None, "2001:db8::1", 8443, "/jobs.git"),
    ],
)  # fmt: skip
def test_https_and_ssh_urls_of_git_hosts_are_accepted(url, scheme, user, host, port, path):
    parsed = parse(url, allow_http=False)
    assert (parsed.scheme, parsed.user, parsed.host, parsed.port, parsed.path) == (scheme, user, host, port, path)
    assert parsed.url == url


def test_http_is_accepted_only_when_the_operator_allows_it():
    with pytest.raises(RefusedUrl, match=r"http:// is not accepted.*CRONTOPUS_GITOPS_ALLOW_HTTP.*use https://"):
        parse("http://git.internal/jobs.git", allow_http=False)
    assert parse("http://git.internal/jobs.git", allow_http=True).port == 80


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/srv/crontopus/repos/0123456789abcdef0123456789abcdef.git", "local paths on the server are not accepted"),
        ("../other-team.git", "local paths on the server are not accepted"),
        ("jobs.git", "local paths on the server are not accepted"),
        ("file:///srv/crontopus/repos/b.git", "file:// names a path on the server"),
        ("git://git.example.com/jobs.git", "git:// has neither authentication nor encryption"),
        ("ext::ssh-helper", r"transport helpers \(ext::, fd::\) are not accepted"),
        ("git@github.com:acme/jobs.git", "write it as ssh://git@github.com/acme/jobs.git"),
        ("github.com:acme/jobs.git", "write it as ssh://github.com/acme/jobs.git"),
        ("git+ssh://git@github.com/acme/jobs.git", "write ssh:// instead of git\\+ssh://"),
        ("HTTPS://github.com/acme/jobs.git", r"lowercase \(https://\)"),
        ("ftp://example.com/jobs.git", "ftp:// is not a supported transport"),
        ("https://github.com/acme/jobs.git\n", "spaces or line breaks"),
        ("https://github.com/acme/my jobs.git", "spaces or line breaks"),
        ("https://github.com/acme/\x00jobs.git", "control characters"),
        ("https://github.com\\@evil.example/jobs.git", "backslashes"),
        ("https://a@b@evil.example/jobs.git", "more than one '@'"),
        ("https://github.com/acme/jobs.git?x=1", "query"),
        ("https://github.com/acme/jobs.git#main", "fragment"),
        ("https://gïthub.com/acme/jobs.git", "xn-- form"),
        ("https://github.com", "names no repository"),
        ("https://github.com/", "names no repository"),
        ("https:///jobs.git", "names no host"),
        ("https://127.1/jobs.git", "not a valid IPv4 address"),
        ("https://0x7f000001/jobs.git", "not a valid IPv4 address"),
        ("https://2130706433/jobs.git", "not a valid IPv4 address"),
        ("https://127.000.000.001/jobs.git", "not a valid IPv4 address"),
        ("https://[fe80::1%25eth0]/jobs.git", "zone id"),
        ("https://[::1/jobs.git", r"\[address\]"),
        ("https://git_hub-.com/jobs.git", "not a valid host name"),
        ("https://-oProxyCommand=x/jobs.git", "not a valid host name"),
        ("https://git.example.com:99999/jobs.git", "port '99999'"),
        ("https://git.example.com:/jobs.git", "port ''"),
        ("https://git.example.com:22x/jobs.git", "port '22x'"),
        ("https://@git.example.com/jobs.git", "user name before '@' is empty"),
        ("https://us'er@git.example.com/jobs.git", "must be percent-encoded"),
        ("ssh://git:password@git.example.com/jobs.git", "cannot carry a password"),
        ("ssh://git@git.example.com/jobs';touch /tmp/x'.git", "spaces or line breaks"),
        ("ssh://git@git.example.com/jobs'.git", "characters a URL must percent-encode: '"),
        ("ssh://git@git.example.com/jobs%27.git", "quotes"),
        ("https://git.example.com/jobs%0a.git", "control characters"),
        ("https://git.example.com/jobs%zz.git", "two hex digits"),
        ("https://git.example.com/a@b.git", "percent-encode: @"),
    ],
)
def test_anything_but_a_remote_git_host_is_refused_with_what_to_write_instead(url, message):
    with pytest.raises(RefusedUrl, match=message) as refused:
        parse(url, allow_http=True)
    assert refused.value.message.startswith("url: ")


def test_a_refusal_never_repeats_a_password():
    with pytest.raises(RefusedUrl) as refused:
        parse("https://robot:s3cret@git.example.com", allow_http=False)
    assert "s3cret" not in refused.value.message


def test_the_address_names_host_and_port_as_messages_show_them():
    assert parse("https://github.com/a/b", allow_http=False).address == "github.com:443"
    assert parse("ssh://git@[2001:db8::1]/a/b", allow_http=False).address == "[2001:db8::1]:22"
