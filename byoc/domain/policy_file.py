"""Reading a policy file: YAML in, a validated `Policy` out, or every problem at once.

A key written twice is refused (YAML would keep the last silently); each problem names the field
path as the file writes it (`rules[2].genesys.ivr`) and the value, with a hint where a common
mistake is likely (an unquoted `+1415...` that YAML reads as a number).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from pydantic import ValidationError

from byoc.domain.policy import (
    TARGET_TAGS,
    Policy,
    PolicyConflictError,
    PolicyError,
    PolicyProblem,
)

__all__ = ["load_policy"]


class _StrictKeysLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} is written twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy(text: str, source: str) -> Policy:
    """Parse and validate policy YAML; `source` names it in errors (e.g. `policy.yaml`)."""
    try:
        data = yaml.load(text, Loader=_StrictKeysLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "; ".join(str(s) for s in (exc.context, exc.problem) if s)
        raise PolicyError(source, [PolicyProblem(where, f"invalid YAML: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, [PolicyProblem("", f"invalid YAML: {exc}")]) from exc
    if data is None:
        empty = PolicyProblem("", "is empty; expected managed, rules and defaults")
        raise PolicyError(source, [empty])
    if not isinstance(data, dict):
        raise PolicyError(
            source,
            [
                PolicyProblem(
                    "",
                    f"expected a mapping with managed, rules and defaults, got {data!r}",
                )
            ],
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _problems(exc)) from exc


def _problems(exc: ValidationError) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, PolicyConflictError):
            problems.extend(cause.problems)
            continue
        problems.append(PolicyProblem(_path(error["loc"]), _message(error)))
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for part in loc:
        if previous == "genesys" and part in TARGET_TAGS:
            # Pydantic puts the union tag in the path; the tag's field name follows it.
            previous = None
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
        previous = part
    return "".join(parts)


def _message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "policy_value":
        return str(error["msg"])
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return f"unknown key (value {value!r}); check the spelling against policy.example.yaml"
    if kind == "genesys_target":
        return f"{value!r} is not a Genesys target; use {{ivr: NAME}}, {{user: EMAIL}} or none"
    if kind == "string_type":
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            hint = "; quote it in YAML (an unquoted +1415... is read as a number and loses '+')"
        return f"expected text, got {type(value).__name__} {value!r}{hint}"
    if kind == "bool_type":
        return f"expected true or false, got {value!r}"
    return f"{value!r}: {error['msg']}"
