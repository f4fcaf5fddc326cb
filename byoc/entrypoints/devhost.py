"""Run `function_app` locally without the Azure Functions host (Core Tools cannot be installed here).

What it does, the way the host does it:
- serves every HTTP function on http://127.0.0.1:7071/api/<route> (function keys are not enforced,
  as with `func start`);
- polls the `byoc-jobs` queue and calls the queue function with a real `QueueMessage` (id, dequeue
  count, pop receipt); a failed message becomes visible again after `visibilityTimeout`, and after
  `maxDequeueCount` attempts it is moved to `byoc-jobs-poison` — all read from host.json;
- fires timers on their NCRONTAB schedule (UTC), and on demand: `POST /admin/functions/<name>`;
- delivers Event Grid events posted to `/runtime/webhooks/eventgrid?functionName=<name>`.

Usage: `python -m byoc.entrypoints.devhost [--port 7071] [--settings local.settings.json]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("byoc.devhost")

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class QueueOptions:
    """`extensions.queues` of host.json, with the host's defaults."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    max_polling_interval_s: float = 60.0

    @classmethod
    def from_host_json(cls, path: Path) -> QueueOptions:
        queues = json.loads(path.read_text()).get("extensions", {}).get("queues", {})
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout_s=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
            max_polling_interval_s=parse_timespan(queues.get("maxPollingInterval", "00:01:00")),
        )


def parse_timespan(text: str) -> float:
    """`hh:mm:ss[.fff]` (host.json TimeSpan) in seconds."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text.strip())
    if not match:
        raise ValueError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def import_function_app() -> Any:
    """`function_app` from the project root (console scripts do not put the cwd on sys.path)."""
    import importlib
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("function_app")


def load_local_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json, put into the environment (existing vars win)."""
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


@dataclass
class FunctionEntry:
    """One indexed function: its name, trigger binding and the user function."""

    name: str
    trigger: dict[str, Any]
    call: Callable[..., Any]


_INDEXED: dict[int, list[FunctionEntry]] = {}


def index_functions(app: Any) -> list[FunctionEntry]:
    """What the host would index from a FunctionApp (once: the library refuses a second pass)."""
    if id(app) in _INDEXED:
        return _INDEXED[id(app)]
    entries = []
    for function in app.get_functions():
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next(b for b in bindings if str(b["type"]).endswith("Trigger"))
        entries.append(
            FunctionEntry(function.get_function_name(), trigger, function.get_user_function())
        )
    _INDEXED[id(app)] = entries
    return entries


class DevHost:
    """HTTP server, queue poller and timer scheduler for one FunctionApp."""

    def __init__(self, app: Any, *, host_json: Path, port: int = 7071, queues: bool = True,
                 timers: bool = True) -> None:
        self.functions = {f.name: f for f in index_functions(app)}
        self.options = QueueOptions.from_host_json(host_json)
        self.route_prefix = (
            json.loads(host_json.read_text()).get("extensions", {}).get("http", {})
            .get("routePrefix", "api")
        )
        self.port = port
        self._queues_on = queues
        self._timers_on = timers
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self.invocations: dict[str, int] = {}

    # --- HTTP ------------------------------------------------------------------------------

    def http_routes(self) -> list[tuple[re.Pattern[str], list[str], FunctionEntry]]:
        routes = []
        for entry in self.functions.values():
            if entry.trigger["type"] != "httpTrigger":
                continue
            route = entry.trigger.get("route") or entry.name
            pattern = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"(?P<\1>[^/]+)", route)
            regex = re.compile(f"^/{self.route_prefix}/{pattern}/?$")
            methods = [m.upper() for m in entry.trigger.get("methods") or ["GET", "POST"]]
            routes.append((regex, methods, entry))
        return routes

    def handle_http(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
                    ) -> tuple[int, dict[str, str], bytes]:
        """Dispatch one request; returns (status, headers, body)."""
        import azure.functions as func

        parts = urlsplit(raw_path)
        if parts.path.startswith("/admin/functions/") and method == "POST":
            return self._admin_invoke(parts.path.rsplit("/", 1)[-1], body)
        if parts.path == "/runtime/webhooks/eventgrid" and method == "POST":
            params = dict(parse_qsl(parts.query))
            return self._deliver_event_grid(params.get("functionName", ""), body)
        for regex, methods, entry in self.http_routes():
            match = regex.match(parts.path)
            if not match:
                continue
            if method not in methods:
                return 405, {"Content-Type": "text/plain"}, b"method not allowed"
            request = func.HttpRequest(
                method, f"http://127.0.0.1:{self.port}{raw_path}", headers=headers,
                params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                route_params=match.groupdict(), body=body,
            )
            try:
                response = self._invoke(entry, request)
            except Exception:
                log.exception("function failed", extra={"event": "devhost.http_error",
                                                        "function": entry.name})
                return 500, {"Content-Type": "application/json"}, b'{"error": "internal error"}'
            out_headers = dict(response.headers)
            if response.mimetype:
                out_headers.setdefault("Content-Type", response.mimetype)
            return response.status_code, out_headers, response.get_body()
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _invoke(self, entry: FunctionEntry, argument: Any) -> Any:
        self.invocations[entry.name] = self.invocations.get(entry.name, 0) + 1
        # What the worker passes as `context`: an invocation id for the logs (no host trace here).
        context = SimpleNamespace(invocation_id=uuid.uuid4().hex, trace_context=None)
        return entry.call(argument, context=context)

    def _admin_invoke(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        entry = self.functions.get(name)
        if entry is None or entry.trigger["type"] != "timerTrigger":
            return 404, {"Content-Type": "text/plain"}, f"no timer function {name!r}".encode()
        self.fire_timer(entry, past_due=False)
        return 202, {}, b""

    def _deliver_event_grid(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        import azure.functions as func

        entry = self.functions.get(name)
        if entry is None or entry.trigger["type"] != "eventGridTrigger":
            return 404, {"Content-Type": "text/plain"}, f"no Event Grid function {name!r}".encode()
        try:
            events = json.loads(body)
            events = events if isinstance(events, list) else [events]
            for raw in events:
                self._invoke(entry, func.EventGridEvent(
                    id=str(raw["id"]), data=raw.get("data") or {}, topic=str(raw.get("topic", "")),
                    subject=str(raw.get("subject", "")), event_type=str(raw["eventType"]),
                    event_time=None, data_version=str(raw.get("dataVersion", "1")),
                ))
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"Content-Type": "text/plain"}, f"bad Event Grid event: {exc}".encode()
        return 202, {}, b""

    # --- timers ----------------------------------------------------------------------------

    def fire_timer(self, entry: FunctionEntry, *, past_due: bool) -> None:
        from azure.functions.timer import TimerRequest

        try:
            self._invoke(entry, TimerRequest(past_due=past_due))
        except Exception:
            log.exception("timer function failed", extra={"event": "devhost.timer_error",
                                                          "function": entry.name})

    def _timer_loop(self, entry: FunctionEntry) -> None:
        from croniter import croniter

        schedule = croniter(entry.trigger["schedule"], dt.datetime.now(dt.UTC),
                            second_at_beginning=True)
        while not self._stop.is_set():
            due = schedule.get_next(dt.datetime)
            if self._stop.wait(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds())):
                return
            self.fire_timer(entry, past_due=False)

    # --- queue -----------------------------------------------------------------------------

    def _queue_loop(self, entry: FunctionEntry) -> None:
        from byoc.bootstrap import get_services

        queue = get_services().queue
        idle_s = 0.1
        with ThreadPoolExecutor(max_workers=self.options.batch_size) as pool:
            while not self._stop.is_set():
                try:
                    messages = queue.receive(
                        max_messages=self.options.batch_size,
                        visibility_timeout_s=600,
                    )
                except Exception:
                    log.exception("queue poll failed", extra={"event": "devhost.poll_error"})
                    messages = []
                if not messages:
                    self._stop.wait(idle_s)
                    idle_s = min(idle_s * 2, self.options.max_polling_interval_s)
                    continue
                idle_s = 0.1
                list(pool.map(lambda m: self._process_message(entry, queue, m), messages))

    def _process_message(self, entry: FunctionEntry, queue: Any, message: Any) -> None:
        from azure.functions.queue import QueueMessage

        msg = QueueMessage(  # type: ignore[no-untyped-call]
            id=message.id, body=message.body.encode("utf-8"),
            dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_on, expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
        )
        try:
            self._invoke(entry, msg)
        except Exception:
            log.exception("queue function failed", extra={
                "event": "devhost.queue_error", "function": entry.name,
                "message_id": message.id, "dequeue_count": message.dequeue_count})
            failed = True
        else:
            failed = False
        # Settling can fail too (the message became visible again and another worker took it,
        # or storage did not answer): the host logs it and keeps polling, and so does devhost.
        try:
            if not failed:
                queue.delete(message)
            elif message.dequeue_count >= self.options.max_dequeue_count:
                queue.move_to_poison_raw(message)
                log.error("message moved to the poison queue", extra={
                    "event": "devhost.poison", "message_id": message.id})
            else:
                queue.release(message, visibility_timeout_s=int(self.options.visibility_timeout_s))
        except Exception as exc:
            log.warning("queue message could not be settled; it runs again when visible",
                        extra={"event": "devhost.settle_error", "message_id": message.id,
                               "error": f"{type(exc).__name__}: {exc}"[:300]})

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> DevHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:  # one handler for every method
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = host.handle_http(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http %s", format % args)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._spawn(self._server.serve_forever, "http")
        for entry in self.functions.values():
            if entry.trigger["type"] == "queueTrigger" and self._queues_on:
                self._spawn(partial(self._queue_loop, entry), f"queue-{entry.name}")
            if entry.trigger["type"] == "timerTrigger" and self._timers_on:
                self._spawn(partial(self._timer_loop, entry), f"timer-{entry.name}")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"devhost-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="byoc devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json",
                        help="local.settings.json whose Values are loaded (if the file exists)")
    parser.add_argument("--host-json", type=Path, default=ROOT / "host.json")
    parser.add_argument("--no-queue", action="store_true", help="do not poll the job queue")
    parser.add_argument("--no-timers", action="store_true", help="do not fire timers")
    args = parser.parse_args(argv)
    if args.settings.exists():
        load_local_settings(args.settings)

    from byoc.observability import configure_logging, log_level_from
    from byoc.settings import ConfigurationError, cached_settings

    try:
        configure_logging(log_level_from(os.environ.get("BYOC_LOG_LEVEL")))
        cached_settings()
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    except ConfigurationError as exc:
        print(exc)
        return 2
    host = DevHost(import_function_app().app, host_json=args.host_json, port=args.port,
                   queues=not args.no_queue, timers=not args.no_timers).start()
    print(f"byoc devhost: http://127.0.0.1:{host.port}/{host.route_prefix}/ "
          f"({len(host.functions)} functions)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        host.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
