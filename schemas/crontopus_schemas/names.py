"""Name patterns, spelled once: a DNS label (namespaces, job names, team slugs, as Kubernetes
names them) and a job reference ``<namespace>/<name>``; and how a name that does not match is
refused: in words, not with the regular expression (the JSON Schema keeps the pattern)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"

DNS_LABEL = rf"^{_LABEL}$"
JOB_REF_PATTERN = rf"^{_LABEL}/{_LABEL}$"
LABEL_RULE = "lowercase letters, digits and '-', at most 63, beginning and ending with a letter or digit"
JOB_REF_RULE = f"<namespace>/<name>, each {LABEL_RULE}"


def in_words(rule: str) -> WrapValidator:
    """After the pattern of an ``Annotated`` string: its mismatch says ``must be <rule>``."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if any(error["type"] == "string_pattern_mismatch" for error in exc.errors()):
                raise PydanticCustomError("string_pattern_mismatch", "must be {rule}", {"rule": rule}) from None
            raise

    return WrapValidator(check)
