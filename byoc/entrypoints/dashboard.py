"""The status page (`GET /api/dashboard`): one server-rendered HTML page, no scripts, no CDN.

Numbers by state, each target's convergence and last sync, health per component, certificate days
left, queue and poison depth, recent operations, and a number search showing `byoc trace`. Every
value is escaped: numbers, names and messages come from vendors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from byoc.services.status import deferred, last_slice, last_sync
from byoc.services.trace import MARK

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f0f0f0}.ok{color:#176f2c}.fail,.down{color:#b00020}
.degraded,.skip{color:#8a6100}.muted{color:#777}.box{padding:.6em 1em;border:1px solid #ddd;
background:#fff;display:inline-block}form{margin:.4em 0}input[type=text]{font:inherit;width:14em}
.fix{color:#8a6100}code{font-size:.95em}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "",
           empty: str = "none") -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">{_e(empty)}</td></tr>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _state(text: Any) -> str:
    word = str(text)
    return f'<span class="{_e(word.lower())}">{_e(word)}</span>'


def render_dashboard(
    status: dict[str, Any],
    operations: list[dict[str, Any]],
    *,
    generated_at: str,
    number: str | None = None,
    trace: dict[str, Any] | None = None,
    trace_error: str | None = None,
    function_key: str | None = None,
) -> str:
    """The whole page. `trace` (a `Trace.to_json()`) or `trace_error` answer the search."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>byoc status</title><style>{_STYLE}</style></head><body>",
        f"<h1>byoc status: {_state('ok' if status.get('ok') else 'needs you')}</h1>",
        f'<p class="muted">generated {_e(generated_at)}</p>',
        _search(number, trace, trace_error, function_key),
        "<h2>Numbers by state</h2>",
        _table(list(status["inventory"]), [[_e(v) for v in status["inventory"].values()]]),
        "<h2>Targets</h2>",
        _table(["target", "last full sync", "converged", "changes", "problem", "last slice sync"], (
            [_e(name), _e(" — ".join(filter(None, (last_sync(sync), deferred(sync))))),
             _state(sync.get("converged", "")),
             _e(sync.get("changes")),
             _e(sync.get("refused") or sync.get("error") or "; ".join(sync.get("problems") or [])),
             _e(last_slice(sync))]
            for name, sync in sorted(status["targets"].items())), empty="no sync yet"),
        "<h2>Health</h2>",
        _table(["component", "status", "checked", "reason"], (
            [_e(name), _state(item.get("status")), _e(item.get("checked_at")), _e(item.get("reason"))]
            for name, item in sorted(status["health"].items()) if isinstance(item, dict)),
            empty="no health check has run yet (byoc health)"),
        "<h2>Certificates</h2>",
        _table(["certificate", "days left", "until", "status"], (
            [_e(name), _e(cert.get("days_left")), _e(cert.get("not_after")),
             _state(cert.get("status"))]
            for name, cert in sorted((status.get("certificates") or {}).items())),
            empty="not checked yet"),
        "<h2>Queue</h2>",
        _table(["queue depth", "poison depth"], [[_e(status.get("queue_depth")),
                                                  _e(status.get("poison_depth"))]]),
    ]
    poller = status.get("twilio_poller")
    if isinstance(poller, dict):
        parts += ["<h2>Twilio poller</h2>", _table(
            ["last success", "lag (s)", "failures in a row", "last error"],
            [[_e(poller.get("last_success_at")), _e(poller.get("lag_s")),
              _e(poller.get("failures")), _e(poller.get("last_error"))]])]
    if status.get("stuck"):
        parts += ["<h2>Stuck numbers</h2>", _table(["number", "state", "errors"], (
            [_e(s["number"]), _e(s["state"]), _e(s["errors"])] for s in status["stuck"]))]
    parts += [
        "<h2>Recent operations</h2>",
        _table(["at", "target", "operation", "outcome", "correlation id"], (
            [_e(op.get("at")), _e(op.get("target")), _e(op.get("operation")), _e(op.get("outcome")),
             _e(op.get("correlation_id"))] for op in operations), empty="none yet"),
        "</body></html>",
    ]
    return "\n".join(parts)


def _search(number: str | None, trace: dict[str, Any] | None, error: str | None,
            function_key: str | None) -> str:
    key = (f'<input type="hidden" name="code" value="{_e(function_key)}">'
           if function_key else "")
    form = ('<form method="get" action="" id="trace-form"><label for="number">Trace a number '
            '</label><input type="text" id="number" name="number" placeholder="+14155550100" '
            f'value="{_e(number or "")}">{key} <button type="submit">Trace</button></form>')
    if error:
        return form + f'<p class="fail" id="trace-error">{_e(error)}</p>'
    if trace is None:
        return form
    verdict = ("path OK: every hop checks out" if trace["ok"] else
               "path BROKEN: " + ", ".join(h["hop"] for h in trace["hops"] if h["status"] == "fail"))
    managed = "managed by byoc" if trace["managed"] else "not managed by byoc"
    rows = (
        [f'<span class="{_e(h["status"])}">{_e(MARK.get(h["status"], "?"))}</span>', _e(h["hop"]),
         _e(h["evidence"]), f'<span class="fix">{_e(h.get("fix") or "")}</span>']
        for h in trace["hops"])
    return (form + f'<div class="box" id="trace"><h2>Trace of {_e(trace["number"])} '
            f'({_e(managed)})</h2><p class="{"ok" if trace["ok"] else "fail"}" id="verdict">'
            f'{_e(verdict)}</p>' + _table(["", "hop", "evidence", "fix"], rows, cls="trace")
            + "</div>")
