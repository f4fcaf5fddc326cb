"""Routing policy: which numbers byoc manages and where each one routes.

The policy is YAML (see `policy.example.yaml` at the repository root)::

    version: 1
    managed: {all_on_trunk: false, prefixes: ["+1415555"]}
    rules:
      - match: "+14155550"              # an E.164 prefix, an exact number, or a list of them
        genesys: {ivr: Main IVR}        # {ivr: NAME}, {user: EMAIL} or none
        sbc_tag: main                   # optional; defaults.sbc_tag otherwise
    defaults: {genesys: none, sbc_tag: default}

Matching: the rule with the most specific (longest) matching pattern wins; between patterns of equal
length the rule written first in the file wins, and such exact duplicates are refused when loading.
An exact number is simply the longest possible prefix. Numbers no rule matches use `defaults`.

`load_policy` (`byoc.domain.policy_file`) checks every field and reports all problems at once in a
`PolicyError`, each naming the field path and the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby, repeat
from operator import itemgetter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    PrivateAttr,
    StrictBool,
    StrictStr,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from byoc.domain.numbers import E164_MAX_DIGITS, check_all_e164, check_e164

__all__ = [
    "TARGET_TAGS",
    "Defaults",
    "GenesysKind",
    "GenesysTarget",
    "IvrTarget",
    "Managed",
    "NoTarget",
    "Policy",
    "PolicyConflictError",
    "PolicyError",
    "PolicyProblem",
    "Route",
    "Rule",
    "UnmanagedNumberError",
    "UserTarget",
]

_E164_PREFIX = re.compile(rf"^\+[1-9][0-9]{{0,{E164_MAX_DIGITS - 1}}}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SBC_TAG = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

GenesysKind = Literal["ivr", "user", "none"]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem in a policy: where (`rules[2].genesys.user`) and what is wrong."""

    path: str
    message: str


class PolicyError(ValueError):
    """The policy is invalid; nothing may be applied. The message lists every problem."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [
            f"{source}: {p.path}: {p.message}" if p.path else f"{source}: {p.message}"
            for p in self.problems
        ]
        super().__init__("\n".join(lines))


class UnmanagedNumberError(LookupError):
    """A route was asked for a number the policy does not manage."""


class PolicyConflictError(ValueError):
    """Cross-field problems found after every field was valid (carried through pydantic)."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


def _problem(detail: str) -> PydanticCustomError:
    return PydanticCustomError("policy_value", "{detail}", {"detail": detail})


def _check_prefix(value: str) -> str:
    if not _E164_PREFIX.match(value):
        raise _problem(
            f"{value!r} is not an E.164 prefix or number ('+', country code, up to 15 digits, "
            "no spaces)"
        )
    return value


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise _problem(f"{value!r} is not a valid email address")
    return value


def _check_sbc_tag(value: str) -> str:
    if not _SBC_TAG.match(value):
        raise _problem(
            f"{value!r} is not a valid SBC tag (1-16 characters: letters, digits, '_' or '-')"
        )
    return value


def _check_target_name(value: str) -> str:
    if not value or value != value.strip():
        raise _problem(f"{value!r} is not a valid name (empty, or leading/trailing spaces)")
    return value


def _one_or_many(value: Any) -> Any:
    if isinstance(value, list | tuple) and not value:
        raise _problem("is empty; give at least one prefix or number")
    return (value,) if isinstance(value, str | int) else value


E164Prefix = Annotated[StrictStr, AfterValidator(_check_prefix)]
Email = Annotated[StrictStr, AfterValidator(_check_email)]
SbcTag = Annotated[StrictStr, AfterValidator(_check_sbc_tag)]
TargetName = Annotated[StrictStr, AfterValidator(_check_target_name)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IvrTarget(_Frozen):
    """Route to a Genesys IVR / call route by name."""

    ivr: TargetName

    @property
    def kind(self) -> GenesysKind:
        return "ivr"

    @property
    def name(self) -> str | None:
        return self.ivr


class UserTarget(_Frozen):
    """Route to a Genesys user, by email."""

    user: Email

    @property
    def kind(self) -> GenesysKind:
        return "user"

    @property
    def name(self) -> str | None:
        return self.user


class NoTarget(_Frozen):
    """No Genesys routing (written `none`): the number is in a DID pool but not assigned."""

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, value: Any) -> Any:
        return {} if value == "none" else value

    @property
    def kind(self) -> GenesysKind:
        return "none"

    @property
    def name(self) -> str | None:
        return None


TARGET_TAGS = ("ivr", "user", "none")


def _target_tag(value: Any) -> Hashable | None:
    if isinstance(value, IvrTarget | UserTarget | NoTarget):
        return value.kind
    if value == "none":
        return "none"
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if key in ("ivr", "user") else None
    return None


GenesysTarget = Annotated[
    Annotated[IvrTarget, Tag("ivr")]
    | Annotated[UserTarget, Tag("user")]
    | Annotated[NoTarget, Tag("none")],
    Discriminator(
        _target_tag,
        custom_error_type="genesys_target",
        custom_error_message="not a Genesys target",
    ),
]


class Managed(_Frozen):
    """Which numbers byoc manages: every number on the trunk, or those under the prefixes."""

    all_on_trunk: StrictBool = False
    prefixes: tuple[E164Prefix, ...] = ()


class Rule(_Frozen):
    """Numbers matching `match` route to `genesys`, tagged `sbc_tag` on the SBC."""

    name: TargetName | None = None
    match: Annotated[tuple[E164Prefix, ...], BeforeValidator(_one_or_many)]
    genesys: GenesysTarget
    sbc_tag: SbcTag | None = None


class Defaults(_Frozen):
    """Routing for managed numbers no rule matches."""

    genesys: GenesysTarget
    sbc_tag: SbcTag


@dataclass(frozen=True, slots=True)
class Route:
    """Where one number routes. `rule_index` is None when `defaults` applied."""

    genesys_kind: GenesysKind
    genesys_name: str | None
    sbc_tag: str
    rule_index: int | None
    matched: str | None


class Policy(_Frozen):
    """A validated routing policy. Build it with `load_policy`."""

    version: Literal[1] = 1
    managed: Managed
    rules: tuple[Rule, ...] = ()
    defaults: Defaults
    _rule_by_pattern: dict[str, int] = PrivateAttr(default_factory=dict)
    _routes: tuple[tuple[int, ...], dict[str, Route], Route] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        problems = _conflicts(self)
        if problems:
            raise PolicyConflictError(problems)
        return self

    def model_post_init(self, context: Any, /) -> None:
        for index, rule in enumerate(self.rules):
            for pattern in rule.match:
                self._rule_by_pattern.setdefault(pattern, index)
        # Every number's route is one of these: planning 100,000 numbers looks each up once.
        routes = {
            pattern: Route(
                genesys_kind=self.rules[index].genesys.kind,
                genesys_name=self.rules[index].genesys.name,
                sbc_tag=self.rules[index].sbc_tag or self.defaults.sbc_tag,
                rule_index=index,
                matched=pattern,
            )
            for pattern, index in self._rule_by_pattern.items()
        }
        default = Route(
            genesys_kind=self.defaults.genesys.kind,
            genesys_name=self.defaults.genesys.name,
            sbc_tag=self.defaults.sbc_tag,
            rule_index=None,
            matched=None,
        )
        lengths = tuple(sorted({len(p) for p in routes if len(p) > 1}, reverse=True))
        self._routes = (lengths, routes, default)

    def is_managed(self, number: str) -> bool:
        """Whether the policy manages `number` (E.164)."""
        check_e164(number)
        if self.managed.all_on_trunk:
            return True
        return number.startswith(self.managed.prefixes)

    def route_for(self, number: str) -> Route:
        """The route of a managed `number`: most specific rule, else the defaults."""
        if not self.is_managed(number):
            raise UnmanagedNumberError(
                f"{number} is not managed by the policy (managed prefixes: "
                f"{', '.join(self.managed.prefixes)}); it gets no route"
            )
        table = self._routes
        assert table is not None
        lengths, routes, default = table
        for length in lengths:  # the longest matching pattern wins
            route = routes.get(number[:length])
            if route is not None:
                return route
        return default

    def routes_for(self, numbers: Iterable[str]) -> dict[str, Route]:
        """The route of every managed number among `numbers` (unmanaged ones are left out)."""
        return self.route_numbers(list(numbers)).routes

    def route_numbers(self, numbers: list[str]) -> RoutedNumbers:
        """`routes_for`, with the numbers grouped by route as well.

        Built for 100,000 numbers: a rule shorter than a number depends only on the number's
        first characters (its head, as long as the longest such rule), which neighbouring
        numbers share. So numbers are taken a run of equal heads at a time, and each head is
        looked up once; only numbers a rule names in full are looked up one by one. Numbers in
        order (as the inventory lists them) make long runs; any order gives the same result.
        """
        table = self._routes
        assert table is not None
        lengths, routes, default = table
        check_all_e164(numbers)
        every, prefixes = self.managed.all_on_trunk, self.managed.prefixes
        found: dict[str, Route] = {}
        grouped: dict[Route, list[str]] = {}
        by_head: dict[str, Route] = {}
        widths = set(map(len, numbers))
        batches = (
            [(widths.pop(), numbers)] if len(widths) == 1
            else [(w, list(batch)) for w, batch in groupby(sorted(numbers, key=len), key=len)]
        )
        for width, batch in batches:
            cut = max((n for n in lengths if n < width), default=0)
            whole = {p for p in routes if len(p) == width}  # rules naming a number in full
            heads_decide = every or all(len(p) <= cut for p in prefixes)
            for head, members in groupby(batch, key=itemgetter(slice(0, cut))):
                run = list(members)
                if not every:
                    if heads_decide and not head.startswith(prefixes):
                        continue
                    if not heads_decide and not (run := [n for n in run if n.startswith(prefixes)]):
                        continue
                route = by_head.get(head)
                if route is None:
                    route = by_head[head] = next(
                        (r for n in lengths if n <= cut and (r := routes.get(head[:n])) is not None),
                        default)
                if whole and not whole.isdisjoint(run):
                    for number in run:
                        own = routes.get(number, route)
                        found[number] = own
                        grouped.setdefault(own, []).append(number)
                    continue
                found.update(zip(run, repeat(route)))
                grouped.setdefault(route, []).extend(run)
        if len(batches) > 1:  # numbers of several lengths: back to the order given
            found = {n: found[n] for n in numbers if n in found}
            grouped = {}
            for number, route in found.items():
                grouped.setdefault(route, []).append(number)
        return RoutedNumbers(found, grouped)


@dataclass(frozen=True)
class RoutedNumbers:
    """Managed numbers and their routes: by number, and by route (each in the order given)."""

    routes: dict[str, Route]
    by_route: dict[Route, list[str]]


def _conflicts(policy: Policy) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    managed = policy.managed
    if managed.all_on_trunk and managed.prefixes:
        problems.append(
            PolicyProblem(
                "managed.prefixes",
                f"{list(managed.prefixes)!r} would be ignored because all_on_trunk is true; "
                "remove the prefixes or set all_on_trunk: false",
            )
        )
    if not managed.all_on_trunk and not managed.prefixes:
        problems.append(
            PolicyProblem(
                "managed",
                "manages no numbers; set all_on_trunk: true or list at least one prefix",
            )
        )
    first_prefix: dict[str, int] = {}
    for i, prefix in enumerate(managed.prefixes):
        if prefix in first_prefix:
            problems.append(
                PolicyProblem(
                    f"managed.prefixes[{i}]",
                    f"{prefix!r} is listed twice "
                    f"(first at managed.prefixes[{first_prefix[prefix]}])",
                )
            )
        first_prefix.setdefault(prefix, i)

    first_match: dict[str, str] = {}
    for r, rule in enumerate(policy.rules):
        for m, pattern in enumerate(rule.match):
            path = f"rules[{r}].match[{m}]"
            if pattern in first_match:
                problems.append(
                    PolicyProblem(
                        path,
                        f"{pattern!r} is already matched by {first_match[pattern]}; the earlier "
                        "entry always wins, so this one would never apply",
                    )
                )
                continue
            first_match[pattern] = path
            if not managed.all_on_trunk and not any(
                pattern.startswith(p) or p.startswith(pattern) for p in managed.prefixes
            ):
                problems.append(
                    PolicyProblem(
                        path,
                        f"{pattern!r} is outside every managed prefix "
                        f"({', '.join(dict.fromkeys(managed.prefixes))}); "
                        "the rule could never apply",
                    )
                )
    return problems
