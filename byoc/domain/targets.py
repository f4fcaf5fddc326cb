"""Target names: what byoc converges, one name each, and the words that stand for several.

A target is `twilio` (the trunk's numbers), `genesys` (DID pools, IVRs, users), `sbc:<name>` (the
Dial Plan of the SBC named `<name>` in settings) or `nsg:<name>` (the NSG in front of that SBC).
`all` stands for every target, `sbc` and `nsg` for every target of that family. An SBC name is a
lower-case letter, then up to 30 lower-case letters, digits or `-` (it is part of Azure resource
and Table keys).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, StrictStr
from pydantic_core import PydanticCustomError

__all__ = [
    "ALL",
    "FAMILIES",
    "GENESYS",
    "JOB_TARGET_PATTERN",
    "NSG",
    "SBC",
    "SBC_NAME_PATTERN",
    "SBC_NAME_RULE",
    "SELECTOR_PATTERN",
    "SELECTOR_RULE",
    "TWILIO",
    "SbcName",
    "check_sbc_name",
    "is_sbc_name",
    "nsg_target",
    "sbc_target",
]

TWILIO: Final = "twilio"
GENESYS: Final = "genesys"
ALL: Final = "all"
SBC: Final = "sbc"
NSG: Final = "nsg"
FAMILIES: Final = (SBC, NSG)
"""Targets named `<family>:<SBC name>`; the family alone stands for each of them."""

SBC_NAME_PATTERN: Final = r"[a-z][a-z0-9-]{0,30}"
"""An SBC name, unanchored."""
SBC_NAME_RULE: Final = "a lower-case letter, then up to 30 lower-case letters, digits or '-'"

_FAMILY_TARGET: Final = rf"(?:{'|'.join(FAMILIES)}):{SBC_NAME_PATTERN}"
JOB_TARGET_PATTERN: Final = rf"^(?:{ALL}|{TWILIO}|{GENESYS}|{_FAMILY_TARGET})$"
"""What a sync job names: one target, or `all`."""
SELECTOR_PATTERN: Final = rf"^(?:{ALL}|{TWILIO}|{GENESYS}|{'|'.join(FAMILIES)}|{_FAMILY_TARGET})$"
"""What a user may ask for: one target, a family, or `all`."""
SELECTOR_RULE: Final = (
    f"'{ALL}', '{TWILIO}', '{GENESYS}', "
    + ", ".join(f"'{family}', '{family}:<name>'" for family in FAMILIES)
)

_SBC_NAME: Final = re.compile(SBC_NAME_PATTERN)


def is_sbc_name(name: object) -> bool:
    """Whether `name` can name an SBC (and so its `sbc:` and `nsg:` targets)."""
    return isinstance(name, str) and _SBC_NAME.fullmatch(name) is not None


def check_sbc_name(name: str) -> str:
    """`name` when it can name an SBC; otherwise ValueError saying the rule."""
    if not is_sbc_name(name):
        raise ValueError(f"SBC name {name!r} must be {SBC_NAME_RULE}")
    return name


def _sbc_name_field(name: str) -> str:
    try:
        return check_sbc_name(name)
    except ValueError as exc:
        raise PydanticCustomError("sbc_name", "{detail}", {"detail": str(exc)}) from None


SbcName = Annotated[StrictStr, AfterValidator(_sbc_name_field)]
"""A pydantic field holding an SBC name."""


def sbc_target(sbc_name: str) -> str:
    """The target name of SBC `sbc_name`'s Dial Plan."""
    return f"{SBC}:{sbc_name}"


def nsg_target(sbc_name: str) -> str:
    """The target name of the NSG in front of SBC `sbc_name`."""
    return f"{NSG}:{sbc_name}"
