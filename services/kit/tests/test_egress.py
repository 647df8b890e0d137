"""The outbound-address rule every tenant-named target goes through."""

import pytest

from crontopus_kit import egress


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.1", "private"), ("192.168.1.10", "private"), ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"), ("100.64.0.1", "non-public"), ("64:ff9b::a00:1", "private"),
        ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("198.51.100.7", "private"),  # documentation range
    ],
)  # fmt: skip
def test_addresses_outside_the_public_internet_are_refused(address, refusal):
    assert egress.address_refusal(address) == refusal


async def test_a_host_resolving_to_loopback_is_refused_with_the_setting_named():
    with pytest.raises(egress.PrivateTarget, match=r"url: localhost \(127\.0\.0\.1\) is a loopback address.*"
                       r"CRONTOPUS_ALLOW_PRIVATE_NETWORKS"):  # fmt: skip
        await egress.check_host("localhost", allow_private=False, field="url", what="repositories")


async def test_the_operator_can_allow_private_networks():
    assert "127.0.0.1" in await egress.check_host("localhost", allow_private=True, field="url", what="repositories")


async def test_an_ipv6_literal_in_brackets_is_judged_as_its_address():
    with pytest.raises(egress.PrivateTarget, match="loopback"):
        await egress.check_host("[::1]", allow_private=False, field="url", what="repositories")
