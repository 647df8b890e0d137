"""Secrets at rest and as shown back."""

import secrets

import pytest

from crontopus_kit.crypto import SecretBox, mask


def test_a_masked_webhook_secret_shows_at_most_four_characters():
    value = secrets.token_urlsafe(32)  # what gitops generates: 43 characters
    shown = mask(value)
    visible = shown.replace("…", "")
    assert len(visible) == 4
    assert shown == f"{value[:2]}…{value[-2:]}"


@pytest.mark.parametrize("length", [1, 7, 8, 16, 24, 31, 32, 64, 256])
def test_never_more_than_four_characters_nor_an_eighth_of_a_secret_show(length):
    value = "".join(chr(ord("A") + i % 26) for i in range(length))
    visible = mask(value).replace("…", "").replace("*", "")
    assert len(visible) <= min(4, length // 8)


def test_a_short_secret_shows_nothing_of_itself():
    assert mask("hunter2") == "****"
    assert mask("sixteen-chars-ok") == "s…k"  # the shortest webhook secret a user may set


def test_a_smaller_keep_shows_fewer_characters():
    assert mask("x" * 64, keep=1) == "…x"


def test_a_sealed_secret_opens_only_with_the_same_key_and_purpose():
    sealed = SecretBox(b"k" * 32, "purpose one").seal("glpat-secret")
    assert SecretBox(b"k" * 32, "purpose one").open(sealed) == "glpat-secret"
    with pytest.raises(ValueError, match="cannot decrypt"):
        SecretBox(b"k" * 32, "purpose two").open(sealed)
