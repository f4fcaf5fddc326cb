"""AudioCodes Dial Plan prefix syntax, rule validation and best-match selection.

Syntax (Mediant 7.2/7.4 user manuals, Dial Plan Rule 'Prefix'):

- `0-9`, `+`, letters and other symbols are literal characters; `\\` makes the next character
  literal (`\\x` is the letter x, `\\*` the asterisk).
- `x` any digit, `z` 1-9, `n` 2-9 (wildcards are case-insensitive, as 7.4 documents); `.` any one
  character.
- `[123-130,455]` a list of single numbers and ranges, all items with the same number of digits; it
  matches that many digits.
- `(...)` at the very end is a suffix: the number must end with it (`([100-199])`, `(4)`, `(4-8)`).
- `#` as the last character of a prefix without suffix: end of number (`54324#` is exactly 5
  digits); elsewhere it is the literal pound key.
- `*` alone matches any number; anywhere else it is invalid (7.4: "333*" is an invalid rule).

Best match (7.4 "Dial Plan Matching Priority" and the 7.2 examples): rules are compared position by
position from the left. At the first position where they differ, the more constrained element wins:
a literal character, then `x` and number ranges (7.4 ranks `x` first; the 7.2 examples rank a range
first, see `range_outranks_x`), then `n`, then `z`, then "prefix ended here, a suffix follows",
then `.`, then "prefix ended here" (so `321xxx` beats `321` for 321444), then the lone `*`. Two
contiguous ranges at the same position: the one with fewer numbers wins (`532[2-4]` over
`532[1-9]`); lists of standalone numbers or ranges of equal size are not compared: the lower row
index wins. With equal prefixes, `#` beats no `#`, then the longer suffix wins, then the suffix is
compared like a prefix. A remaining tie goes to the lowest rule index.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

MAX_RULE_NAME = 15
MAX_PREFIX = 50
DEFAULT_MAX_TAG = 16


class PrefixSyntaxError(ValueError):
    """A Dial Plan Rule prefix the device would refuse."""

    def __init__(self, prefix: str, reason: str) -> None:
        super().__init__(f"prefix {prefix!r} is invalid: {reason}")
        self.prefix = prefix
        self.reason = reason


class ElementKind(enum.Enum):
    LITERAL = "literal"
    X = "x"
    Z = "z"
    N = "n"
    DOT = "dot"
    RANGE = "range"


_WILDCARD_DIGITS = {
    ElementKind.X: "0123456789", ElementKind.Z: "123456789", ElementKind.N: "23456789"
}
_WILDCARD_CHARS = {"x": ElementKind.X, "z": ElementKind.Z, "n": ElementKind.N}
_SPECIAL = set("*[](),\\")
_ITEM_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class Element:
    """One position (or, for a range, `width` positions) of a prefix or suffix."""

    kind: ElementKind
    width: int = 1
    literal: str = ""
    items: tuple[tuple[str, str], ...] = ()

    @property
    def is_list(self) -> bool:
        return len(self.items) > 1

    def options(self) -> int:
        """How many strings this element accepts (ranges only; used to compare two ranges)."""
        return sum(int(hi) - int(lo) + 1 for lo, hi in self.items)

    def accepts(self, text: str, case_sensitive: bool) -> bool:
        if len(text) != self.width:
            return False
        if self.kind is ElementKind.LITERAL:
            return text == self.literal if case_sensitive else text.lower() == self.literal.lower()
        if self.kind is ElementKind.DOT:
            return True
        if self.kind is ElementKind.RANGE:
            digits = text.isascii() and text.isdigit()
            return digits and any(lo <= text <= hi for lo, hi in self.items)
        return text in _WILDCARD_DIGITS[self.kind]


@dataclass(frozen=True)
class PrefixPattern:
    """A parsed Dial Plan Rule prefix."""

    source: str
    any_number: bool
    prefix: tuple[Element, ...]
    suffix: tuple[Element, ...] | None
    end_of_number: bool

    @property
    def prefix_width(self) -> int:
        return sum(e.width for e in self.prefix)

    @property
    def suffix_width(self) -> int:
        return sum(e.width for e in self.suffix or ())

    def number_groups(self) -> int:
        """Single numbers and ranges inside brackets (the device's capacity unit)."""
        return sum(len(e.items) for e in (*self.prefix, *(self.suffix or ())) if e.items)

    def matches(self, number: str, *, case_sensitive: bool = False) -> bool:
        if self.any_number:
            return True
        width = self.prefix_width
        if len(number) < width or not _accepts_all(self.prefix, number[:width], case_sensitive):
            return False
        if self.end_of_number:
            return len(number) == width
        if self.suffix is None:
            return True
        tail = self.suffix_width
        return len(number) >= width + tail and _accepts_all(
            self.suffix, number[len(number) - tail :], case_sensitive
        )


def _accepts_all(elements: Sequence[Element], text: str, case_sensitive: bool) -> bool:
    position = 0
    for element in elements:
        if not element.accepts(text[position : position + element.width], case_sensitive):
            return False
        position += element.width
    return True


@lru_cache(maxsize=8192)
def parse_prefix(text: str) -> PrefixPattern:
    """Parse a prefix; PrefixSyntaxError names what is wrong and where."""
    if text == "*":
        return PrefixPattern(text, True, (), None, False)
    if not text:
        raise PrefixSyntaxError(text, "it is empty")
    if any(c.isspace() for c in text):
        raise PrefixSyntaxError(text, "it contains white space")
    suffix: tuple[Element, ...] | None = None
    body = text
    if "(" in text:
        open_at = text.index("(")
        if not text.endswith(")"):
            raise PrefixSyntaxError(text, "a suffix '(...)' must end the prefix")
        body, inner = text[:open_at], text[open_at + 1 : -1]
        if not inner:
            raise PrefixSyntaxError(text, "the suffix '()' is empty")
        bare_range = _ITEM_RE.match(inner)
        if bare_range and bare_range.group(2) is not None:
            suffix = (_parse_list(text, inner),)
        else:
            suffix = tuple(_parse_elements(text, inner))
    end_of_number = suffix is None and body.endswith("#") and not body.endswith("\\#")
    if end_of_number:
        body = body[:-1]
    prefix = tuple(_parse_elements(text, body))
    if not prefix and suffix is None:
        raise PrefixSyntaxError(text, "'#' alone is not a prefix")
    return PrefixPattern(text, False, prefix, suffix, end_of_number)


def _parse_elements(source: str, body: str) -> Iterable[Element]:
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\":
            if position + 1 >= len(body):
                raise PrefixSyntaxError(source, "'\\' at the end escapes nothing")
            yield Element(ElementKind.LITERAL, literal=body[position + 1])
            position += 2
            continue
        if char == "[":
            close = body.find("]", position)
            if close < 0:
                raise PrefixSyntaxError(source, f"'[' at position {position} is never closed")
            yield _parse_list(source, body[position + 1 : close])
            position = close + 1
            continue
        if char == "*":
            raise PrefixSyntaxError(
                source, "'*' is only valid as the whole prefix (write \\* for the asterisk)"
            )
        if char in _SPECIAL:
            raise PrefixSyntaxError(source, f"unexpected {char!r} at position {position}")
        lower = char.lower()
        if lower in _WILDCARD_CHARS:
            yield Element(_WILDCARD_CHARS[lower])
        elif char == ".":
            yield Element(ElementKind.DOT)
        elif char.isprintable() and char.isascii():
            yield Element(ElementKind.LITERAL, literal=char)
        else:
            raise PrefixSyntaxError(source, f"character {char!r} is not allowed")
        position += 1


def _parse_list(source: str, inner: str) -> Element:
    if not inner:
        raise PrefixSyntaxError(source, "'[]' is empty")
    items: list[tuple[str, str]] = []
    widths: set[int] = set()
    for item in inner.split(","):
        match = _ITEM_RE.match(item)
        if not match:
            raise PrefixSyntaxError(source, f"list item {item!r} is not a number or a range n-m")
        low, high = match.group(1), match.group(2) or match.group(1)
        if len(low) != len(high):
            raise PrefixSyntaxError(
                source, f"range {item!r}: both ends must have the same number of digits"
            )
        if int(low) > int(high):
            raise PrefixSyntaxError(source, f"range {item!r} runs backwards")
        widths.add(len(low))
        items.append((low, high))
    if len(widths) != 1:
        raise PrefixSyntaxError(
            source, f"items of [{inner}] must all have the same number of digits"
        )
    return Element(ElementKind.RANGE, width=widths.pop(), items=tuple(items))


# --- rule fields ------------------------------------------------------------------------------

_TAG_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_TAG_VALUE_RE = re.compile(r"^[A-Za-z0-9_.\-+:@]+$")


def rule_name_problems(name: str) -> list[str]:
    if not name:
        return ["Name is mandatory"]
    problems = []
    if len(name) > MAX_RULE_NAME:
        problems.append(f"Name {name!r} has {len(name)} characters (at most {MAX_RULE_NAME})")
    if '"' in name:
        problems.append(f"Name {name!r} must not contain '\"'")
    return problems


def prefix_problems(prefix: str) -> list[str]:
    problems = []
    if len(prefix) > MAX_PREFIX:
        problems.append(f"Prefix {prefix!r} has {len(prefix)} characters (at most {MAX_PREFIX})")
    try:
        parse_prefix(prefix)
    except PrefixSyntaxError as exc:
        problems.append(f"Prefix {prefix!r} is invalid: {exc.reason}")
    return problems


def tag_problems(tag: str, max_length: int = DEFAULT_MAX_TAG) -> list[str]:
    """Tags: `name` or `name=value`, `;`-separated, at most one value-less tag per rule."""
    if not tag:
        return []
    problems = []
    if len(tag) > max_length:
        problems.append(f"Tag {tag!r} has {len(tag)} characters (at most {max_length})")
    valueless = 0
    for part in tag.split(";"):
        name, sep, value = part.partition("=")
        if not _TAG_NAME_RE.match(name) or (sep and not _TAG_VALUE_RE.match(value)):
            problems.append(f"Tag {tag!r}: {part!r} is not 'name' or 'name=value'")
        elif not sep:
            valueless += 1
    if valueless > 1:
        problems.append(f"Tag {tag!r} has {valueless} value-less tags (at most one per rule)")
    return problems


# --- best match -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleCandidate:
    """What the matcher needs of one Dial Plan Rule."""

    index: int
    name: str
    prefix: str
    tag: str


_PREFIX_ENDS_BEFORE_SUFFIX = "suffix-follows"
_PREFIX_ENDS = "end"
_ANY = "any"


def _rank_table(range_outranks_x: bool) -> dict[object, int]:
    first, second = (ElementKind.RANGE, ElementKind.X) if range_outranks_x else (
        ElementKind.X, ElementKind.RANGE)
    order: list[object] = [
        ElementKind.LITERAL, first, second, ElementKind.N, ElementKind.Z,
        _PREFIX_ENDS_BEFORE_SUFFIX, ElementKind.DOT, _PREFIX_ENDS, _ANY,
    ]
    return {kind: rank for rank, kind in enumerate(order)}


def _rank(pattern: PrefixPattern, elements: Sequence[Element], at: int, table: dict[object, int],
          *, in_suffix: bool) -> int:
    if pattern.any_number:
        return table[_ANY]
    if at < len(elements):
        return table[elements[at].kind]
    if not in_suffix and pattern.suffix is not None:
        return table[_PREFIX_ENDS_BEFORE_SUFFIX]
    return table[_PREFIX_ENDS]


def _compare_elements(a: PrefixPattern, ea: Sequence[Element], b: PrefixPattern,
                      eb: Sequence[Element], table: dict[object, int], *,
                      in_suffix: bool) -> int | None:
    """<0: a is more specific, >0: b is, 0: equal so far, None: the row index decides."""
    at = 0
    while at < len(ea) or at < len(eb):
        ra = _rank(a, ea, at, table, in_suffix=in_suffix)
        rb = _rank(b, eb, at, table, in_suffix=in_suffix)
        if ra != rb:
            return ra - rb
        if at >= len(ea) or at >= len(eb):
            return 0
        x, y = ea[at], eb[at]
        if x.kind is ElementKind.RANGE:
            if x.is_list or y.is_list or x.options() == y.options():
                return None
            return x.options() - y.options()
        at += 1
    return 0


def compare_specificity(
    a: PrefixPattern, b: PrefixPattern, *, range_outranks_x: bool = False
) -> int:
    """<0 when `a` is the better match for a number both match, >0 when `b` is, 0 when neither."""
    table = _rank_table(range_outranks_x)
    decided = _compare_elements(a, a.prefix, b, b.prefix, table, in_suffix=False)
    if decided is None:
        return 0
    if decided or a.any_number or b.any_number:
        return decided
    if a.end_of_number != b.end_of_number:
        return -1 if a.end_of_number else 1
    if a.suffix_width != b.suffix_width:
        return b.suffix_width - a.suffix_width
    return _compare_elements(a, a.suffix or (), b, b.suffix or (), table, in_suffix=True) or 0


def best_rule(
    rules: Iterable[RuleCandidate], number: str, *, case_sensitive: bool = False,
    range_outranks_x: bool = False,
) -> tuple[RuleCandidate | None, list[RuleCandidate]]:
    """The rule the device picks for `number`, and every rule that matched (by row index)."""
    matched: list[tuple[RuleCandidate, PrefixPattern]] = []
    for rule in sorted(rules, key=lambda r: r.index):
        try:
            pattern = parse_prefix(rule.prefix)
        except PrefixSyntaxError:
            continue
        if pattern.matches(number, case_sensitive=case_sensitive):
            matched.append((rule, pattern))
    best: tuple[RuleCandidate, PrefixPattern] | None = None
    for candidate in matched:
        if best is None or compare_specificity(
            candidate[1], best[1], range_outranks_x=range_outranks_x
        ) < 0:
            best = candidate
    return (best[0] if best else None), [rule for rule, _ in matched]
