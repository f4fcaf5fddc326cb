"""The AudioCodes Dial Plan grammar and matcher: which rule the device picks for a number.

A Dial Plan Rule prefix as the SBC reads it (vendor notes docs/vendors/audiocodes.md section 2.1;
Mediant 7.4 user manual, "Dial Plan Rule table" and "Dial Plan Matching Priority"): the most
specific prefix matching a number wins, then the lower rule index. `DialPlanIndex` resolves many
numbers at once exactly as `best_rule` does one by one
(`byoc.domain.dialplan_index`). `expand_prefix` and `prefix_ranges` list
the numbers a prefix of digits, `+`, `x`, `z`, `n` and lists stands for, from the same parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from math import prod
from typing import Final, Protocol, TypeVar

from byoc.domain.number_ranges import Group, NumberRanges, Ranges, merge_ranges, render_value

MAX_EXPANSION = 1_000_000
"""A rule matching more numbers than this is not expanded (counted as unknown)."""


class DialPlanRule(Protocol):
    """What matching needs of a rule: its RuleIndex within the plan and its prefix."""

    @property
    def index(self) -> int: ...

    @property
    def prefix(self) -> str: ...


R = TypeVar("R", bound=DialPlanRule)

@dataclass(frozen=True, slots=True)
class _Element:
    kind: str  # lit, x, range, n, z, dot
    width: int = 1
    literal: str = ""
    ranges: tuple[tuple[int, int], ...] = ()

    def accepts(self, text: str) -> bool:
        if len(text) != self.width:
            return False
        if self.kind == "lit":
            return text.casefold() == self.literal.casefold()
        if self.kind == "dot":
            return True
        if not (text.isascii() and text.isdigit()):
            return False
        if self.kind == "range":
            value = int(text)
            return any(lo <= value <= hi for lo, hi in self.ranges)
        return text >= {"x": "0", "z": "1", "n": "2"}[self.kind]

    @property
    def is_list(self) -> bool:
        return len(self.ranges) > 1

    def options(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


@dataclass(frozen=True, slots=True)
class DialPattern:
    """A Dial Plan Rule prefix as the device reads it (vendor notes §2.1; Mediant 7.4 manual).

    Digits, `+` and other characters are literal (`\\` escapes the next one); `x` is 0-9, `z` 1-9,
    `n` 2-9, `.` any character; `[a-b,c]` a list of equal-width items; a final `(...)` a suffix; a
    final `#` ends the number; `*` alone matches everything.
    """

    source: str
    any_number: bool
    prefix: tuple[_Element, ...]
    suffix: tuple[_Element, ...] | None
    end_of_number: bool
    head: str  # the literal characters it starts with (a cheap pre-filter)

    def matches(self, number: str) -> bool:
        if self.any_number:
            return True
        if not number.startswith(self.head):
            return False
        width = sum(e.width for e in self.prefix)
        if len(number) < width or not _accepts(self.prefix, number[:width]):
            return False
        if self.end_of_number:
            return len(number) == width
        if self.suffix is None:
            return True
        tail = sum(e.width for e in self.suffix)
        return len(number) >= width + tail and _accepts(self.suffix, number[len(number) - tail:])


def _accepts(elements: Iterable[_Element], text: str) -> bool:
    position = 0
    for element in elements:
        if not element.accepts(text[position: position + element.width]):
            return False
        position += element.width
    return True


class InvalidPrefix(ValueError):
    """A dial-plan prefix the device would not accept, or that cannot stand for a set of numbers."""

    def __init__(self, prefix: str, reason: str) -> None:
        super().__init__(f"dial-plan prefix {prefix!r}: {reason}")
        self.prefix = prefix
        self.reason = reason


class _Refused(Exception):
    """Why the device would not accept a prefix (internal to the parser)."""


def parse_dial_pattern(prefix: str) -> DialPattern | None:
    """The pattern of a prefix, or None when the device would not accept it either."""
    parsed = _parse(prefix)
    return parsed if isinstance(parsed, DialPattern) else None


def dial_pattern(prefix: str) -> DialPattern:
    """The pattern of a prefix; `InvalidPrefix` saying why when the device would not accept it."""
    parsed = _parse(prefix)
    if isinstance(parsed, str):
        raise InvalidPrefix(prefix, parsed)
    return parsed


@lru_cache(maxsize=16384)
def _parse(prefix: str) -> DialPattern | str:
    """The pattern of a prefix, or why the device would not accept it."""
    if prefix == "*":
        return DialPattern(prefix, True, (), None, False, "")
    if not prefix:
        return "it is empty"
    if any(c.isspace() for c in prefix):
        return "it contains a space"
    body, suffix = prefix, None
    try:
        if "(" in prefix:
            if not prefix.endswith(")"):
                return "a '(...)' suffix must end the prefix"
            body, inner = prefix[: prefix.index("(")], prefix[prefix.index("(") + 1: -1]
            parsed_suffix = _elements(inner if not re.fullmatch(r"\d+-\d+", inner) else f"[{inner}]")
            if not parsed_suffix:
                return "the '(...)' suffix is empty"
            suffix = tuple(parsed_suffix)
        end_of_number = suffix is None and body.endswith("#") and not body.endswith("\\#")
        if end_of_number:
            body = body[:-1]
        elements = _elements(body)
    except _Refused as refused:
        return str(refused)
    if not elements and suffix is None:
        return "it has nothing to match before '#'"
    head = ""
    for element in elements:
        if element.kind != "lit":
            break
        head += element.literal
    return DialPattern(prefix, False, tuple(elements), suffix, end_of_number, head)


def _elements(body: str) -> list[_Element]:
    out: list[_Element] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\":
            if position + 1 >= len(body):
                raise _Refused("it ends with an escape '\\'")
            out.append(_Element("lit", literal=body[position + 1]))
            position += 2
            continue
        if char == "[":
            close = body.find("]", position)
            if close < 0:
                raise _Refused(f"'[' at position {position} is never closed")
            out.append(_list_element(body[position + 1: close]))
            position = close + 1
            continue
        if char in "*]()":
            raise _Refused(f"{char!r} at position {position} is not allowed there")
        lower = char.lower()
        if lower in "xzn":
            out.append(_Element(lower))
        elif char == ".":
            out.append(_Element("dot"))
        else:
            out.append(_Element("lit", literal=char))
        position += 1
    return out


def _list_element(inner: str) -> _Element:
    ranges: list[tuple[int, int]] = []
    widths: set[int] = set()
    for item in inner.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            raise _Refused(f"list item {item!r} is not a number or a range a-b")
        low, high = match.group(1), match.group(2) or match.group(1)
        if len(low) != len(high) or (widths and len(low) not in widths):
            raise _Refused(f"items of [{inner}] must all have the same number of digits")
        if int(low) > int(high):
            raise _Refused(f"range {item!r} runs backwards")
        widths.add(len(low))
        ranges.append((int(low), int(high)))
    return _Element("range", width=widths.pop(), ranges=tuple(ranges))


# 7.4 "Dial Plan Matching Priority": a literal beats x, x beats a range, then n, z, "prefix ended,
# a suffix follows", '.', "prefix ended", and the lone '*' last.
_RANK = {"lit": 0, "x": 1, "range": 2, "n": 3, "z": 4, "suffix": 5, "dot": 6, "end": 7, "any": 8}


def _rank(pattern: DialPattern, elements: tuple[_Element, ...], at: int, in_suffix: bool) -> int:
    if pattern.any_number:
        return _RANK["any"]
    if at < len(elements):
        return _RANK[elements[at].kind]
    if not in_suffix and pattern.suffix is not None:
        return _RANK["suffix"]
    return _RANK["end"]


def _compare_elements(a: DialPattern, ea: tuple[_Element, ...], b: DialPattern,
                      eb: tuple[_Element, ...], in_suffix: bool) -> int | None:
    """<0: a more specific, >0: b, 0: equal so far, None: the rule index decides."""
    at = 0
    while at < len(ea) or at < len(eb):
        ra, rb = _rank(a, ea, at, in_suffix), _rank(b, eb, at, in_suffix)
        if ra != rb:
            return ra - rb
        if at >= len(ea) or at >= len(eb):
            return 0
        x, y = ea[at], eb[at]
        if x.kind == "range":
            if x.is_list or y.is_list or x.options() == y.options():
                return None
            return x.options() - y.options()
        at += 1
    return 0


def compare_specificity(a: DialPattern, b: DialPattern) -> int:
    """<0 when `a` wins for a number both match, >0 when `b` does, 0 when the index decides."""
    decided = _compare_elements(a, a.prefix, b, b.prefix, in_suffix=False)
    if decided is None:
        return 0
    if decided or a.any_number or b.any_number:
        return decided
    if a.end_of_number != b.end_of_number:
        return -1 if a.end_of_number else 1
    width_a = sum(e.width for e in a.suffix or ())
    width_b = sum(e.width for e in b.suffix or ())
    if width_a != width_b:
        return width_b - width_a
    return _compare_elements(a, a.suffix or (), b, b.suffix or (), in_suffix=True) or 0


def best_rule(rules: Iterable[R], number: str) -> R | None:
    """The rule the device picks for `number`: most specific, then the lowest rule index."""
    return pick(
        (rule, pattern) for rule in sorted(rules, key=lambda r: r.index)
        if (pattern := parse_dial_pattern(rule.prefix)) is not None and pattern.matches(number)
    )


def pick(
    matching: Iterable[tuple[R, DialPattern]],
) -> R | None:
    """The device's choice among rules that all match one number, given in rule-index order
    (equal indexes as listed): the most specific, the first of equals."""
    best: tuple[R, DialPattern] | None = None
    for rule, pattern in matching:
        if best is None or compare_specificity(pattern, best[1]) < 0:
            best = (rule, pattern)
    return best[0] if best else None


# --- the numbers a prefix stands for ----------------------------------------------------------

_Token = tuple[str | None, int, Ranges]
"""One position of an expandable prefix: a literal character, or `width` digits within ranges."""
_DIGITS: Final = {"x": ((0, 9),), "z": ((1, 9),), "n": ((2, 9),)}


def _tokens(prefix: str) -> tuple[_Token, ...]:
    """The positions of a prefix made of `+`, digits, `x`, `z`, `n` and lists (a final `#`)."""
    pattern = dial_pattern(prefix)
    if pattern.any_number:
        raise InvalidPrefix(prefix, "'*' matches any number and cannot be expanded")
    if pattern.suffix is not None:
        raise InvalidPrefix(prefix, "a '(...)' suffix matches numbers of any length; cannot be expanded")
    tokens: list[_Token] = []
    for element in pattern.prefix:
        if element.kind == "lit" and element.literal in "+0123456789":
            tokens.append((element.literal, 1, ()))
        elif element.kind in _DIGITS:
            tokens.append((None, 1, _DIGITS[element.kind]))
        elif element.kind == "range":
            tokens.append((None, element.width, element.ranges))
        else:
            shown = element.literal or "."
            raise InvalidPrefix(prefix, f"{shown!r} is not a digit, '+', x, z, n or a [..] list; "
                                        "cannot be expanded to numbers")
    return tuple(tokens)


def _size(tokens: Iterable[_Token]) -> int:
    return prod(sum(hi - lo + 1 for lo, hi in ranges) for literal, _, ranges in tokens
                if literal is None)


def number_groups(prefix: str) -> int:
    """Single numbers and ranges inside brackets: the device's capacity unit for prefixes (a
    prefix the parser refuses is counted by its brackets, as the device would hold it)."""
    pattern = parse_dial_pattern(prefix)
    if pattern is None:
        return sum(len(body.split(",")) for body in re.findall(r"\[([^\]]*)\]", prefix))
    return sum(len(e.ranges) for e in (*pattern.prefix, *(pattern.suffix or ())) if e.kind == "range")


def prefix_matches(prefix: str, number: str) -> bool:
    """Whether the device's rule with this prefix matches `number` (`InvalidPrefix` if invalid)."""
    return dial_pattern(prefix).matches(number)


def expand_prefix(prefix: str, *, limit: int = 1_000_000) -> set[str]:
    """Every string the prefix pattern stands for.

    For a prefix ending in `#` these are exactly the numbers it matches; without `#` they are the
    shortest strings it matches, and every number starting with one of them matches too.
    Refuses (ValueError) to build more than `limit` strings, and (InvalidPrefix) the lone `*`,
    suffixes, `.` and characters other than digits and `+`.
    """
    tokens = _tokens(prefix)
    size = _size(tokens)
    if size > limit:
        raise ValueError(f"prefix {prefix!r} stands for {size} numbers, more than {limit}")
    choices = [[literal] if literal is not None else
               [f"{v:0{width}d}" for lo, hi in ranges for v in range(lo, hi + 1)]
               for literal, width, ranges in tokens]
    return {"".join(parts) for parts in product(*choices)}


def prefix_ranges(prefix: str, *, limit: int = 1_000_000) -> NumberRanges:
    """The strings `expand_prefix` lists, held as ranges; refuses exactly what it refuses.

    Work grows with the number of ranges, not of strings: `+1415555[1000-1999]xx#` is one range.
    """
    tokens = _tokens(prefix)
    size = _size(tokens)
    if size > limit:
        raise ValueError(f"prefix {prefix!r} stands for {size} numbers, more than {limit}")
    # The strings so far, by lead (up to the last '+') and digit count: ranges of their values.
    partial: dict[Group, Ranges] = {("", 0): ((0, 0),)}
    at = 0
    while at < len(tokens):
        literal, token_width, token_ranges = tokens[at]
        at += 1
        if literal == "+":
            partial = {
                (render_value(lead, width, value) + "+", 0): ((0, 0),)
                for (lead, width), ranges in partial.items()
                for lo, hi in ranges for value in range(lo, hi + 1)
            }
            continue
        if literal is not None:  # literal digits: values 10**k apart, so never adjacent
            digits = literal
            while at < len(tokens) and tokens[at][0] not in (None, "+"):
                digits += tokens[at][0] or ""
                at += 1
            shift, added = 10 ** len(digits), int(digits)
            partial = {
                (lead, width + len(digits)): tuple(
                    (value * shift + added, value * shift + added)
                    for lo, hi in ranges for value in range(lo, hi + 1)
                )
                for (lead, width), ranges in partial.items()
            }
            continue
        choices = merge_ranges(token_ranges)
        scale = 10**token_width
        if choices == ((0, scale - 1),):  # every digit: each range just gets wider
            partial = {
                (lead, width + token_width): tuple((lo * scale, hi * scale + scale - 1)
                                                   for lo, hi in ranges)
                for (lead, width), ranges in partial.items()
            }
        else:
            partial = {
                (lead, width + token_width): merge_ranges(
                    (value * scale + a, value * scale + b)
                    for lo, hi in ranges for value in range(lo, hi + 1) for a, b in choices
                )
                for (lead, width), ranges in partial.items()
            }
    return NumberRanges.from_groups(partial)


def numbers_of(prefix: str) -> frozenset[str] | None:
    """Every number a `#`-terminated prefix matches; None when open-ended, invalid or huge."""
    pattern = parse_dial_pattern(prefix)
    if pattern is None or pattern.any_number or not pattern.end_of_number:
        return None
    try:
        return frozenset(expand_prefix(prefix, limit=MAX_EXPANSION))
    except ValueError:
        return None


def ranges_of(prefix: str) -> NumberRanges | None:
    """`numbers_of` held as ranges: the same numbers, and None in the same cases."""
    pattern = parse_dial_pattern(prefix)
    if pattern is None or pattern.any_number or not pattern.end_of_number:
        return None
    try:
        return prefix_ranges(prefix, limit=MAX_EXPANSION)
    except ValueError:
        return None
