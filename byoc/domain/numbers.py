"""E.164 numbers and number sets (their compression into AudioCodes dial-plan prefixes is in
`byoc.domain.prefix_compression`; the prefix grammar, and what a prefix matches, in
`byoc.domain.dialplan`).

Numbers are E.164 strings (`+14155551000`), and one rule says which strings are numbers
(`E164_RULE`: `+`, 6 to 15 digits, the first not 0). Where a number must be dialable (a webhook,
the CLI, the HTTP API, settings) `parse_number` checks it with `phonenumbers` and the same shape;
where numbers come in bulk or were validated before (queue messages, the policy's lists, the
inventory, vendor APIs) `is_e164`, `check_e164`, `check_all_e164` and the pydantic field
`E164Number` check the shape only. Everything after that boundary works on plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Final, TypeAlias

from pydantic import AfterValidator, StrictStr
from pydantic_core import PydanticCustomError

from byoc.domain.number_ranges import NumberRanges, span_text

if TYPE_CHECKING:
    from phonenumbers import NumberParseException

__all__ = [
    "E164",
    "E164_MAX_DIGITS",
    "E164_MIN_DIGITS",
    "E164_PATTERN",
    "E164_RULE",
    "E164Number",
    "InvalidNumber",
    "NumberSet",
    "check_all_e164",
    "check_e164",
    "is_e164",
    "parse_number",
]

E164: TypeAlias = str
"""An E.164 number (`E164_RULE`)."""

E164_MIN_DIGITS: Final = 6
"""The shortest numbers a national plan assigns: country code and number together.

ITU-T E.164 sets only a maximum. libphonenumber's metadata (the `phonenumbers` package) holds
valid 6-digit numbers (+43 and a 4-digit Austrian number, German pagers, Iranian UANs) and none
shorter, so every number `parse_number` accepts has this shape; a test checks it against the
installed metadata."""
E164_MAX_DIGITS: Final = 15
"""ITU-T E.164: at most 15 digits; Twilio's format rule says the same ("a maximum of 15 digits",
twilio.com/docs/glossary/what-e164)."""
E164_PATTERN: Final = rf"\+[1-9][0-9]{{{E164_MIN_DIGITS - 1},{E164_MAX_DIGITS - 1}}}"
"""The shape of an E.164 number, unanchored (wrap it in `^...$` for a pydantic `pattern`)."""
E164_RULE: Final = (
    f"E.164: '+', then {E164_MIN_DIGITS} to {E164_MAX_DIGITS} digits, the first not 0 "
    "(e.g. +14155550100)"
)

_E164_SHAPE: Final = re.compile(E164_PATTERN)
_E164_SHAPES: Final = re.compile(rf"{E164_PATTERN}(?:\n{E164_PATTERN})*")
_NUMBER_CHARACTERS: Final = re.compile(r"\+?[0-9\s().\-/]+")


class InvalidNumber(ValueError):
    """A phone number that byoc cannot use, with the input and the reason."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r} is not a usable phone number: {reason}")
        self.text = text
        self.reason = reason


def parse_number(text: str, default_region: str | None = None) -> E164:
    """Validate a phone number and return it in E.164.

    National formats (`(415) 555-2671`, `020 7183 8750`) need `default_region` (`US`, `GB`, …).
    Short codes, emergency numbers, extensions, letters and numbers outside any assigned range are
    refused with `InvalidNumber`.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidNumber(text, "it is empty")
    if not any("0" <= c <= "9" for c in stripped):
        raise InvalidNumber(text, "it contains no digits")
    if not _NUMBER_CHARACTERS.fullmatch(stripped):
        raise InvalidNumber(
            text,
            "only digits, one leading '+', spaces and ( ) . - / are allowed (no letters, no extensions)",
        )
    if not stripped.startswith("+") and default_region is None:
        raise InvalidNumber(
            text,
            "it is in national format and no default region was given; "
            "write it as +<country code><number> or pass the region (e.g. 'US')",
        )

    # Imported here: phonenumbers loads its metadata only when outside input is validated.
    import phonenumbers
    from phonenumbers import shortnumberinfo

    region = default_region.upper() if default_region is not None else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {default_region!r} (use an ISO code like 'US')")
    try:
        parsed = phonenumbers.parse(stripped, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(text, _parse_failure_reason(exc)) from None
    if phonenumbers.is_valid_number(parsed):
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if not is_e164(number):  # national-only numbers past 15 digits (Japan's 0037 toll-free)
            raise InvalidNumber(text, f"{number} cannot be dialled from abroad: expected {E164_RULE}")
        return number

    national = phonenumbers.national_significant_number(parsed)
    country_code = parsed.country_code or 0
    regions = phonenumbers.region_codes_for_country_code(country_code)
    if any(shortnumberinfo.is_emergency_number(national, r) for r in regions):
        raise InvalidNumber(text, "it is an emergency number, not a DID")
    if shortnumberinfo.is_valid_short_number(parsed):
        raise InvalidNumber(text, "it is a short code or an incomplete number, not a full DID")
    raise InvalidNumber(
        text,
        f"it is not a valid number for country code +{country_code} (wrong length or an unassigned range)",
    )


def _parse_failure_reason(exc: NumberParseException) -> str:
    from phonenumbers import NumberParseException

    reasons = {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        NumberParseException.NOT_A_NUMBER: "it is not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the '+'/00 prefix",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, str(exc))


def is_e164(number: object) -> bool:
    """Whether `number` is a str of E.164 shape (`E164_RULE`); no `phonenumbers` lookup."""
    return isinstance(number, str) and _E164_SHAPE.fullmatch(number) is not None


def check_e164(number: str) -> E164:
    """`number` when it has E.164 shape; otherwise `InvalidNumber` saying the rule."""
    if not is_e164(number):
        raise InvalidNumber(number, f"expected {E164_RULE}")
    return number


def check_all_e164(numbers: Sequence[str]) -> None:
    """`check_e164` for many numbers: one regex over them all, the first bad one named."""
    if _all_e164_shape(tuple(numbers)):
        return
    bad = [n for n in numbers if not is_e164(n)]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise InvalidNumber(bad[0], f"expected {E164_RULE}{more}")


def _e164_field(number: str) -> E164:
    try:
        return check_e164(number)
    except InvalidNumber as exc:
        raise PydanticCustomError("e164", "{detail}", {"detail": str(exc)}) from None


E164Number = Annotated[StrictStr, AfterValidator(_e164_field)]
"""A pydantic field holding an E.164 number (`E164_RULE`), refused with the rule otherwise."""


class NumberSet:
    """An immutable set of E.164 numbers.

    Iteration and `to_list()` are in ascending numeric order (shorter numbers first, since E.164
    numbers never start with 0). Supports `| & - ^`, `<= < >= >`, `==`, `in` and `len`.
    """

    __slots__ = ("_listed", "_members", "_ordered", "_runs")

    _listed: tuple[str, ...] | None
    """The numbers as given, until the runs are found: read in this order, they are near in memory."""

    _members: frozenset[str]
    _ordered: tuple[str, ...] | None
    _runs: NumberRanges | None

    def __init__(self, numbers: Iterable[E164] = ()) -> None:
        """Build a set from E.164 numbers; only their `+<digits>` shape is checked."""
        listed = tuple(numbers)
        members = frozenset(listed)
        misshapen = [] if _all_e164_shape(listed) else sorted(
            n for n in members if not is_e164(n)
        )
        if misshapen:
            more = f" (and {len(misshapen) - 1} more)" if len(misshapen) > 1 else ""
            raise InvalidNumber(
                misshapen[0],
                f"expected {E164_RULE}{more}",
            )
        self._listed = listed
        self._members = members
        self._ordered = None
        self._runs = None

    @classmethod
    def from_e164(cls, numbers: Iterable[E164]) -> NumberSet:
        """Build a set from numbers already validated (only the `+<digits>` shape is checked)."""
        return cls(numbers)

    @classmethod
    def parse(cls, texts: Iterable[str], default_region: str | None = None) -> NumberSet:
        """Build a set from outside input, validating each number with `parse_number`."""
        return cls._trusted(frozenset(parse_number(t, default_region) for t in texts))

    @classmethod
    def from_range(cls, first: E164, last: E164) -> NumberSet:
        """All numbers from `first` to `last` inclusive (same length), e.g. a DID pool."""
        for number in (first, last):
            check_e164(number)
        if len(first) != len(last) or int(first) > int(last):
            raise ValueError(
                f"range {first}..{last}: ends must have the same length and be in ascending order"
            )
        width = len(first) - 1
        return cls._trusted(frozenset(f"+{v:0{width}d}" for v in range(int(first), int(last) + 1)))

    @classmethod
    def _trusted(cls, members: frozenset[str]) -> NumberSet:
        instance = object.__new__(cls)
        instance._listed = None
        instance._members = members
        instance._ordered = None
        instance._runs = None
        return instance

    def to_list(self) -> list[E164]:
        """The numbers in ascending order, as a JSON-friendly list."""
        return list(self._sorted())

    def contiguous_runs(self) -> list[tuple[E164, E164]]:
        """Maximal runs of consecutive numbers of equal length, as (first, last), ascending."""
        return [(span_text(s.width, s.low), span_text(s.width, s.high)) for s in self.ranges().spans()]

    def ranges(self) -> NumberRanges:
        """The set as runs of consecutive numbers (computed once)."""
        if self._runs is None:
            # E.164 digits never start with 0, so numeric order is also shorter-numbers-first.
            values = sorted(map(int, self._members if self._listed is None else self._listed))
            if len(values) != len(self._members):  # the numbers were given with repeats
                values = sorted(set(values))
            self._listed = None
            self._runs = NumberRanges.of_values(values)
        return self._runs

    def _sorted(self) -> tuple[str, ...]:
        if self._ordered is None:
            self._ordered = tuple(sorted(sorted(self._members), key=len))
        return self._ordered

    def __contains__(self, number: object) -> bool:
        return number in self._members

    def __iter__(self) -> Iterator[E164]:
        return iter(self._sorted())

    def __len__(self) -> int:
        return len(self._members)

    def __or__(self, other: NumberSet) -> NumberSet:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return NumberSet._trusted(self._members | other._members)

    def __and__(self, other: NumberSet) -> NumberSet:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return NumberSet._trusted(self._members & other._members)

    def __sub__(self, other: NumberSet) -> NumberSet:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return NumberSet._trusted(self._members - other._members)

    def __xor__(self, other: NumberSet) -> NumberSet:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return NumberSet._trusted(self._members ^ other._members)

    def __le__(self, other: NumberSet) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._members <= other._members

    def __lt__(self, other: NumberSet) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._members < other._members

    def __ge__(self, other: NumberSet) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._members >= other._members

    def __gt__(self, other: NumberSet) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._members > other._members

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._members == other._members

    def __hash__(self) -> int:
        return hash(self._members)

    def __repr__(self) -> str:
        ordered = self._sorted()
        if len(ordered) <= 4:
            return f"NumberSet({list(ordered)!r})"
        return f"NumberSet(<{len(ordered)} numbers {ordered[0]} … {ordered[-1]}>)"


def _all_e164_shape(numbers: tuple[str, ...]) -> bool:
    """Whether every entry is a str of E.164 shape: one regex over them all, not one per number."""
    try:
        text = "\n".join(numbers)
    except TypeError:
        return False
    # An entry containing a newline would pass as two: the count of separators rules it out.
    return not numbers or (
        text.count("\n") == len(numbers) - 1 and _E164_SHAPES.fullmatch(text) is not None
    )
