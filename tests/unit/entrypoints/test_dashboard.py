"""The status page escapes everything vendors supply and shows a trace's verdict and fixes."""

from __future__ import annotations

from byoc.entrypoints.dashboard import render_dashboard

HOSTILE = "<img src=x onerror=alert(1)>\"'&"


def status(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ok": False, "inventory": {"active": 2, "failed": 1},
        "targets": {"sbc:sbc1": {"at": "2026-01-01T00:00:00+00:00", "converged": False,
                                 "changes": 1, "problems": [HOSTILE]}},
        "health": {HOSTILE: {"status": "down", "reason": HOSTILE, "checked_at": "t"}},
        "certificates": {"tls-certificate:sbc1": {"days_left": 3, "not_after": "x",
                                                  "status": "degraded"}},
        "queue_depth": 0, "poison_depth": 4, "stuck": [],
    }
    base.update(extra)
    return base


def test_every_vendor_value_is_escaped() -> None:
    page = render_dashboard(status(), [{"at": "t", "target": "genesys", "operation": HOSTILE,
                                        "outcome": "applied", "correlation_id": "c"}],
                            generated_at="now", number=HOSTILE, function_key=HOSTILE)

    assert "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;" in page
    assert "<script" not in page and "http" not in page  # nothing loaded from elsewhere


def test_a_broken_trace_shows_the_verdict_the_hop_and_its_fix() -> None:
    trace = {"number": "+14155550105", "ok": False, "managed": True, "hops": [
        {"hop": "twilio: number", "status": "ok", "evidence": "on trunk TK1", "fix": None},
        {"hop": "sbc:sbc1: dial plan", "status": "fail", "evidence": "no byoc rule matches it",
         "fix": "byoc apply --target sbc:sbc1"}]}

    page = render_dashboard(status(), [], generated_at="now", number="+14155550105", trace=trace)

    assert "path BROKEN: sbc:sbc1: dial plan" in page
    assert "byoc apply --target sbc:sbc1" in page and "✗" in page and "✓" in page
    assert 'value="+14155550105"' in page


def test_a_targets_last_full_sync_and_last_slice_sync_are_both_shown() -> None:
    targets = {"twilio": {"at": "2026-01-01T00:00:00+00:00", "converged": False, "changes": 4,
                          "problems": ["trunk TK1 secure is False, not True"], "slice": None,
                          "last_slice": {"at": "2026-01-01T00:05:00+00:00", "converged": True,
                                         "changes": 1, "problems": [],
                                         "slice": ["+14155550100", "+14155550101"],
                                         "slice_size": 2}},
               "genesys": {"at": "2026-01-01T00:00:00+00:00", "converged": True, "changes": 0,
                           "problems": [], "slice": None, "last_slice": None}}
    page = render_dashboard(status(targets=targets), [], generated_at="now")
    row = page[page.index("<td>twilio</td>"):].split("</tr>")[0]
    assert "2026-01-01T00:00:00+00:00" in row and "trunk TK1 secure is False" in row
    assert "2026-01-01T00:05:00+00:00: converged, 2 number(s), 1 change(s)" in row
    assert page.count("number(s)") == 1


def test_a_deferred_full_sync_says_so_beside_the_last_full_sync() -> None:
    text = "full sync deferred: 250 numbers pending in slices (last full sync at 2026-01-01T00:00)"
    targets = {"genesys": {"at": "2026-01-01T00:00:00+00:00", "converged": True, "changes": 0,
                           "problems": [], "slice": None, "last_slice": None,
                           "deferred": {"text": text, "pending": 250}},
               "twilio": {"at": "2026-01-01T00:00:00+00:00", "converged": True, "changes": 0,
                          "problems": [], "slice": None, "last_slice": None}}
    page = render_dashboard(status(targets=targets), [], generated_at="now")
    genesys = page[page.index("<td>genesys</td>"):].split("</tr>")[0]
    twilio = page[page.index("<td>twilio</td>"):].split("</tr>")[0]
    assert "full sync deferred: 250 numbers pending in slices" in genesys
    assert "deferred" not in twilio
