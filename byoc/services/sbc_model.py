"""SBC read model and wanted state: which Dial Plan rules are byoc's, and the rules it wants
(`sbc_reconciler`)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.domain.number_ranges import NumberRanges
from byoc.domain.numbers import NumberSet
from byoc.domain.prefix_compression import MAX_PREFIX_CHARS, compress_to_prefix_ranges

if TYPE_CHECKING:
    from byoc.domain.policy import Route

RULE_KIND = "dial-plan-rule"
PLAN_KIND = "dial-plan"
SAVE_KIND = "configuration-save"
OWNED_NAME_PREFIX = "byoc-"
MAX_RULE_NAME = 15
MAX_TAG = 16


class ForeignDialPlanRuleError(Exception):
    """A plan would write a rule byoc does not own, or reached the wrong SBC; refused."""


class DialPlanCapacityExceeded(ValueError):
    """A plan would hold more Dial Plan rules (or number groups) than the SBC's capacity."""


class DialPlanWriteRolledBack(Exception):
    """An upload failed part way; byoc wrote the touched rules back as they were and saved."""


class DialPlanRuleInvalid(ValueError):
    """A rule byoc would write breaks a device limit (name, prefix or tag length)."""


def is_owned(rule_name: str) -> bool:
    """Whether byoc owns a rule with this name."""
    return rule_name.casefold().startswith(OWNED_NAME_PREFIX)


# --- desired rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredRule:
    """One rule byoc wants, and the numbers it matches (as ranges: listed only when needed)."""

    name: str
    prefix: str
    tag: str
    coverage: NumberRanges

    @property
    def numbers(self) -> frozenset[str]:
        """Every number the rule matches."""
        return frozenset(self.coverage)


@dataclass(frozen=True)
class SbcDesired:
    """byoc's rules for one SBC's Dial Plan."""

    plan_name: str
    tags: Mapping[str, str]
    rules: tuple[DesiredRule, ...]
    releasing: frozenset[str] = frozenset()
    """Numbers being released: a rule still matching one fails it (the SBC has not let go)."""


class RouteTags(Mapping[str, str]):
    """`{number: SBC tag}` read from the routes of the desired state, not copied (100,000 entries)."""

    __slots__ = ("_grouped", "_routes")

    def __init__(
        self, routes: Mapping[str, Route], grouped: Mapping[Route, list[str]] | None = None
    ) -> None:
        self._routes = routes
        self._grouped = grouped

    def __getitem__(self, number: str) -> str:
        return self._routes[number].sbc_tag

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, number: object) -> bool:
        return number in self._routes

    def by_tag(self) -> dict[str, list[str]]:
        """The numbers of each tag."""
        grouped: dict[str, list[str]] = defaultdict(list)
        if self._grouped is not None:  # the numbers already grouped by route
            for route, numbers in self._grouped.items():
                grouped[route.sbc_tag] += numbers
            return grouped
        for number, route in self._routes.items():
            grouped[route.sbc_tag].append(number)
        return grouped


def desired_rules(tags: Mapping[str, str]) -> list[DesiredRule]:
    """The owned rules for `{number: tag}`: per tag the fewest exact prefixes, deterministic names."""
    if isinstance(tags, RouteTags):
        by_tag = tags.by_tag()
    else:
        by_tag = defaultdict(list)
        for number, tag in tags.items():
            by_tag[tag].append(number)
    drafts: list[tuple[str, str, str, NumberRanges]] = []
    for tag in sorted(by_tag):
        if not tag or len(tag) > MAX_TAG or '"' in tag:
            raise DialPlanRuleInvalid(f"SBC tag {tag!r} must be 1-{MAX_TAG} characters")
        for prefix, covered in compress_to_prefix_ranges(NumberSet.from_e164(by_tag[tag])):
            if len(prefix) > MAX_PREFIX_CHARS:
                raise DialPlanRuleInvalid(f"prefix {prefix} is longer than {MAX_PREFIX_CHARS}")
            drafts.append((_base_name(covered.first or ""), prefix, tag, covered))
    counts: dict[str, int] = defaultdict(int)
    for name, *_ in drafts:
        counts[name] += 1
    rules = [
        DesiredRule(name if counts[name] == 1 else _hashed_name(prefix), prefix, tag, covered)
        for name, prefix, tag, covered in drafts
    ]
    return sorted(rules, key=lambda r: r.name)


def _base_name(first_number: str) -> str:
    return OWNED_NAME_PREFIX + first_number.lstrip("+")[-(MAX_RULE_NAME - len(OWNED_NAME_PREFIX)):]


def _hashed_name(prefix: str) -> str:
    digest = hashlib.sha256(prefix.encode()).hexdigest()
    return OWNED_NAME_PREFIX + "h" + digest[: MAX_RULE_NAME - len(OWNED_NAME_PREFIX) - 1]
