"""Which new passwords are accepted: at least 12 characters (``crontopus_schemas.identity.Password``)
and not easy to guess, by zxcvbn (Dropbox's estimator; its Python port ships its lists with the
code, so nothing leaves the machine): the 30,000 most common passwords of public breaches, common
words and names, keyboard patterns, sequences, repeats, dates, and the account's own names. A
password zxcvbn scores below 3 of 4 ("safely unguessable") is refused with its own advice.

Only new passwords are judged (sign-up; later a change or a reset): an older, weaker one still
signs in, so tightening the rule locks nobody out.
"""

from __future__ import annotations

from collections.abc import Sequence

from crontopus_kit.errors import Invalid

MIN_SCORE = 3
# zxcvbn refuses longer input (ValueError) as its matching grows quickly with length: the first
# 72 characters decide; a passphrase longer than that is judged by them.
JUDGED_LENGTH = 72


def ensure_hard_to_guess(password: str, *, hints: Sequence[str]) -> None:
    """Invalid (``password: ...``: the API's 422 names the field) when zxcvbn scores the password
    below MIN_SCORE; ``hints`` are the account's own names and address, which it must not lean on."""
    from zxcvbn import zxcvbn  # ~13 MB of lists: loaded by the first sign-up, not at start-up

    judged = zxcvbn(password[:JUDGED_LENGTH], user_inputs=[hint for hint in hints if hint])
    if judged["score"] >= MIN_SCORE:
        return
    feedback = judged["feedback"]
    advice = " ".join([feedback["warning"], *feedback["suggestions"]]).strip()
    raise Invalid(f"password: too easy to guess{': ' + advice if advice else ''}")
