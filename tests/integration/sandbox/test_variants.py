"""Sandbox variants: a behaviour no vendor source settles is offered in each plausible form."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest
from starlette.routing import BaseRoute

from sandbox.core import Emulator, ServedApp, Variant, build_app
from sandbox.launcher import apply_variants


class _Answering(Emulator):
    name = "answering"
    VARIANTS: ClassVar[dict[str, Variant]] = {
        "answer": Variant(("with-status", "no-status"), source="two readings of one manual page"),
    }

    def reset(self) -> None:
        self.writes = 0

    def state(self) -> dict[str, Any]:
        return {"answer": self.variant("answer")}

    def routes(self) -> list[BaseRoute]:
        return []


def test_a_variant_defaults_to_its_first_value_and_the_seed_can_pick_another() -> None:
    assert _Answering({}).variant("answer") == "with-status"
    assert _Answering({"variants": {"answer": "no-status"}}).variant("answer") == "no-status"


def test_a_seed_naming_an_unknown_variant_or_value_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        _Answering({"variants": {"nope": "x"}})
    with pytest.raises(ValueError, match="has no value 'maybe'"):
        _Answering({"variants": {"answer": "maybe"}})


def test_variants_switch_at_run_time_and_reset_goes_back_to_the_seed() -> None:
    served = ServedApp(build_app(_Answering({"variants": {"answer": "no-status"}}))).start()
    try:
        with httpx.Client(base_url=served.url) as client:
            _switch_and_reset(client)
    finally:
        served.stop()


def _switch_and_reset(client: httpx.Client) -> None:
    listed = client.get("/_sandbox/variants").json()["variants"]["answer"]
    assert listed["value"] == "no-status"
    assert listed["values"] == ["with-status", "no-status"]
    assert listed["source"]

    assert client.post("/_sandbox/variants", json={"answer": "with-status"}).status_code == 200
    assert client.get("/_sandbox/state").json() == {"answer": "with-status"}

    refused = client.post("/_sandbox/variants", json={"answer": "sometimes"})
    assert refused.status_code == 400
    assert "sometimes" in refused.json()["error"]
    assert client.get("/_sandbox/state").json() == {"answer": "with-status"}

    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/state").json() == {"answer": "no-status"}


def test_the_launcher_refuses_a_variant_it_cannot_place() -> None:
    with pytest.raises(ValueError, match=r"SECTION\.NAME=VALUE"):
        apply_variants({}, ["upload_answer=no-status"])
    with pytest.raises(ValueError, match="unknown variant"):
        apply_variants({"audiocodes": {}}, ["audiocodes.no_such_thing=x"])
