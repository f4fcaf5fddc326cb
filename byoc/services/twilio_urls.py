"""The Twilio planner's origination URLs: one per configured SBC, byoc's and foreign ones
told apart by host and name (`twilio_reconciler`)."""

from __future__ import annotations

from byoc.domain.plan import Action, Change
from byoc.ports import TwilioOriginationUrl
from byoc.services.twilio_model import (
    OWNED_URL_PREFIX,
    TARGET,
    URL_KIND,
    TwilioActual,
    TwilioDesired,
    sip_host,
)
from byoc.services.twilio_payloads import OriginationUrl


def url_changes(
    actual: TwilioActual, desired: TwilioDesired
) -> tuple[list[Change], list[Change], list[TwilioOriginationUrl]]:
    """(adds and updates, removals, foreign URLs left alone)."""
    upserts: list[Change] = []
    removals: list[Change] = []
    wanted_hosts = {sip_host(u.sip_url) for u in desired.origination_urls}
    for want in desired.origination_urls:
        host = sip_host(want.sip_url)
        mine = [u for u in actual.origination_urls if sip_host(u.sip_url) == host]
        keep = next((u for u in mine if same_url(u, want)), mine[0] if mine else None)
        if keep is None:
            upserts.append(Change(
                target=TARGET, action=Action.ADD, kind=URL_KIND, key=host,
                summary=f"{want.sip_url} priority {want.priority} weight {want.weight}",
                after=OriginationUrl(want),
            ))
        elif not same_url(keep, want):
            after = TwilioOriginationUrl(
                friendly_name=keep.friendly_name or want.friendly_name, sip_url=want.sip_url,
                priority=want.priority, weight=want.weight, enabled=True, sid=keep.sid,
            )
            upserts.append(Change(
                target=TARGET, action=Action.UPDATE, kind=URL_KIND, key=host,
                summary=url_difference(keep, want),
                before=OriginationUrl(keep), after=OriginationUrl(after),
            ))
        for extra in mine:
            if extra is not keep:
                removals.append(Change(
                    target=TARGET, action=Action.REMOVE, kind=URL_KIND, key=host,
                    summary=f"duplicate {extra.sip_url} ({extra.friendly_name})",
                    before=OriginationUrl(extra),
                ))
    foreign: list[TwilioOriginationUrl] = []
    for url in actual.origination_urls:
        if sip_host(url.sip_url) in wanted_hosts:
            continue
        if url.friendly_name.startswith(OWNED_URL_PREFIX):
            removals.append(Change(
                target=TARGET, action=Action.REMOVE, kind=URL_KIND, key=sip_host(url.sip_url),
                summary=f"{url.sip_url} ({url.friendly_name}): no configured SBC has this host",
                before=OriginationUrl(url),
            ))
        else:
            foreign.append(url)
    return upserts, removals, foreign


def same_url(actual: TwilioOriginationUrl, want: TwilioOriginationUrl) -> bool:
    return (
        actual.sip_url.lower() == want.sip_url.lower()
        and actual.priority == want.priority
        and actual.weight == want.weight
        and actual.enabled == want.enabled
    )


def url_difference(actual: TwilioOriginationUrl, want: TwilioOriginationUrl) -> str:
    parts = []
    if actual.sip_url.lower() != want.sip_url.lower():
        parts.append(f"{actual.sip_url} -> {want.sip_url}")
    for name in ("priority", "weight", "enabled"):
        before, after = getattr(actual, name), getattr(want, name)
        if before != after:
            parts.append(f"{name} {before} -> {after}")
    return ", ".join(parts)

