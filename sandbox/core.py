"""What every emulator shares: state reset, request log, fault injection, and serving on loopback.

An emulator is a class with its vendor routes and its state. `build_app` wraps it in a Starlette app
that adds the `/_sandbox/*` endpoints and the fault-injection and request-log middleware; `serve`
runs that app with uvicorn on 127.0.0.1 on a free port, over HTTPS when given a certificate.

Fault specification (`POST /_sandbox/faults`, JSON object or list of them):

    {"route": "regex on the path" | null, "method": "GET" | null,
     "status": 429, "headers": {"Retry-After": "1"}, "body": {...} | "text",
     "latency_ms": 200, "hang": false, "hang_s": 30, "after": false,
     "probability": 1.0, "count": 3,            # count: only the next N matching calls
     "kind": "vendor-specific name" | null, "params": {...}}

A fault with a `kind` is not applied by the middleware: the emulator asks for it with
`Faults.take(kind, path)` where the vendor behaviour happens (an HA-sync 409, an IVR version conflict,
an SBC that keeps serving its old certificate). `DELETE /_sandbox/faults` clears them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class Fault:
    """One injected fault, matched by path regex and method."""

    route: str | None = None
    method: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    latency_ms: int = 0
    hang: bool = False
    hang_s: float = 30.0
    after: bool = False
    """With `hang`: the emulator handles the call first and only its answer is held (a write
    lands, the client times out): the lost answer a retried create must survive."""
    probability: float = 1.0
    count: int | None = None
    kind: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fault:
        allowed = set(cls.__dataclass_fields__) - {"fired"}
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**raw)
        if fault.route is not None:
            re.compile(fault.route)
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.route and not re.search(self.route, path))

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Faults:
    """The active faults of one emulator; thread-safe."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self.injected: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def _take(self, kind: str | None, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or not fault.matches(method, path):
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                if self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                self.injected[kind or f"status:{fault.status}" if fault.status else "latency"] += 1
                return fault
            return None

    def take_generic(self, method: str, path: str) -> Fault | None:
        """The first generic (kind-less) fault that fires for this call, if any."""
        return self._take(None, method, path)

    def take(self, kind: str, path: str = "", method: str = "") -> Fault | None:
        """The first vendor-specific fault of `kind` that fires for this call, if any."""
        return self._take(kind, method, path)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    route: str
    status: int
    at: float
    duration_ms: float
    fault: str | None = None
    """How an injected generic fault met the call: "answered" (the fault answered, the emulator
    never saw it), "held" (held before the emulator), "answer_held" (handled, answer held)."""


class RequestLog:
    """Every vendor call an emulator served (the `/_sandbox/*` calls are not logged)."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def to_json(self) -> dict[str, Any]:
        entries = self.entries()
        counts = Counter(f"{e.method} {e.route}" for e in entries)
        writes = sum(1 for e in entries if e.method not in ("GET", "HEAD", "OPTIONS"))
        return {
            "total": len(entries),
            "writes": writes,
            "counts": dict(sorted(counts.items())),
            "statuses": dict(Counter(str(e.status) for e in entries)),
            "requests": [e.__dict__ for e in entries],
        }


@dataclass(frozen=True)
class Variant:
    """A vendor behaviour no public source settles: each plausible value (the first is the
    default) and what each is based on."""

    values: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.values or len(set(self.values)) != len(self.values):
            raise ValueError("a variant needs distinct values")


class Emulator:
    """Base class: subclasses set `name`, implement `reset`, `state` and `routes`.

    `VARIANTS` names the behaviours the emulator offers in more than one plausible form; the seed's
    `variants` mapping picks the values at start, `POST /_sandbox/variants` changes them at run time
    and `POST /_sandbox/reset` goes back to the seed's."""

    name = "emulator"
    VARIANTS: ClassVar[dict[str, Variant]] = {}

    def __init__(self, seed: dict[str, Any]) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log = RequestLog()
        self.seed_variants = self.checked_variants((seed or {}).get("variants") or {})
        self.variants: dict[str, str] = {}
        self.reset_variants()
        self.reset()

    @classmethod
    def checked_variants(cls, chosen: Any) -> dict[str, str]:
        """`chosen` as {name: value}, refused (ValueError) when a name or value is not offered."""
        if not isinstance(chosen, dict):
            raise ValueError(f"{cls.name}: variants must be a mapping of name to value")
        checked: dict[str, str] = {}
        for name, value in chosen.items():
            variant = cls.VARIANTS.get(str(name))
            if variant is None:
                offered = ", ".join(sorted(cls.VARIANTS)) or "none"
                raise ValueError(f"{cls.name}: unknown variant {name!r} (offered: {offered})")
            if str(value) not in variant.values:
                raise ValueError(
                    f"{cls.name}: variant {name!r} has no value {value!r} "
                    f"(values: {', '.join(variant.values)})"
                )
            checked[str(name)] = str(value)
        return checked

    def reset_variants(self) -> None:
        """Every variant back to the seed's value, or its default."""
        self.variants = {name: v.values[0] for name, v in self.VARIANTS.items()}
        self.variants.update(self.seed_variants)

    def set_variants(self, chosen: Any) -> None:
        """Switch variants at run time (all or nothing)."""
        self.variants.update(self.checked_variants(chosen))

    def variant(self, name: str) -> str:
        """The value in force for variant `name` (KeyError for a name the class does not offer)."""
        return self.variants[name]

    def variants_json(self) -> dict[str, Any]:
        return {
            name: {"value": self.variants[name], "values": list(v.values), "source": v.source}
            for name, v in self.VARIANTS.items()
        }

    def reset(self) -> None:
        """Rebuild the state from the seed."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The whole state as JSON-able data."""
        raise NotImplementedError

    def routes(self) -> list[BaseRoute]:
        """The vendor API routes."""
        raise NotImplementedError


def _route_template(routes: Iterable[BaseRoute], scope: Scope) -> str:
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return str(scope["path"])


class _SandboxMiddleware:
    """Applies generic faults and logs every vendor call."""

    def __init__(self, app: ASGIApp, emulator: Emulator, routes: list[BaseRoute]) -> None:
        self.app = app
        self.emulator = emulator
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        method, path = scope["method"], scope["path"]
        status_holder: dict[str, Any] = {"status": 500, "fault": None, "logged": False}

        def log_call() -> None:
            if status_holder["logged"]:
                return
            status_holder["logged"] = True
            self.emulator.log.add(
                LoggedRequest(
                    method=method,
                    path=path,
                    query=scope.get("query_string", b"").decode("latin-1"),
                    route=_route_template(self.routes, scope),
                    status=int(status_holder["status"]),
                    at=time.time(),
                    duration_ms=(time.monotonic() - started) * 1000,
                    fault=status_holder["fault"],
                )
            )

        async def logging_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                # Logged before the client can read the answer: a test that clears the log
                # right after a call never sees that call's entry arrive late.
                log_call()
            await send(message)

        try:
            fault = self.emulator.faults.take_generic(method, path)
            if fault is not None and fault.hang and fault.after:
                status_holder["fault"] = "answer_held"
                held: list[Any] = []

                async def hold(message: Any) -> None:
                    held.append(message)

                await self.app(scope, receive, hold)
                await asyncio.sleep(fault.hang_s)
                for message in held:
                    await logging_send(message)
                return
            if fault is not None:
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                if fault.hang:
                    status_holder["fault"] = "held"
                    await asyncio.sleep(fault.hang_s)
                if fault.status is not None:
                    status_holder["fault"] = "answered"
                    response = _fault_response(fault)
                    await response(scope, receive, logging_send)
                    return
            await self.app(scope, receive, logging_send)
        finally:
            log_call()  # a call that ended without an answer (an error, a dropped client)


def _fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    if isinstance(fault.body, (dict, list)):
        return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
    return PlainTextResponse(str(fault.body or ""), status_code=fault.status, headers=fault.headers)


def build_app(emulator: Emulator) -> Starlette:
    """The emulator's vendor routes plus `/_sandbox/*`, with faults and the request log."""

    async def get_state(_: Request) -> Response:
        with emulator.lock:
            return JSONResponse(emulator.state())

    async def post_reset(_: Request) -> Response:
        with emulator.lock:
            emulator.reset_variants()
            emulator.reset()
        emulator.faults.clear()
        emulator.log.clear()
        return JSONResponse({"reset": True})

    async def get_requests(_: Request) -> Response:
        return JSONResponse(emulator.log.to_json())

    async def delete_requests(_: Request) -> Response:
        emulator.log.clear()
        return JSONResponse({"cleared": True})

    async def post_faults(request: Request) -> Response:
        try:
            raw = await request.json()
            items = raw if isinstance(raw, list) else [raw]
            faults = [Fault.from_json(item) for item in items]
        except (ValueError, TypeError, re.error) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        for fault in faults:
            emulator.faults.add(fault)
        return JSONResponse({"faults": emulator.faults.list()})

    async def get_faults(_: Request) -> Response:
        return JSONResponse(
            {"faults": emulator.faults.list(), "injected": dict(emulator.faults.injected)}
        )

    async def get_variants(_: Request) -> Response:
        with emulator.lock:
            return JSONResponse({"variants": emulator.variants_json()})

    async def post_variants(request: Request) -> Response:
        try:
            chosen = await request.json()
            with emulator.lock:
                emulator.set_variants(chosen)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with emulator.lock:
            return JSONResponse({"variants": emulator.variants_json()})

    async def delete_faults(_: Request) -> Response:
        emulator.faults.clear()
        return JSONResponse({"faults": []})

    vendor_routes = emulator.routes()
    sandbox_routes: list[BaseRoute] = [
        Route("/_sandbox/state", get_state, methods=["GET"]),
        Route("/_sandbox/reset", post_reset, methods=["POST"]),
        Route("/_sandbox/requests", get_requests, methods=["GET"]),
        Route("/_sandbox/requests", delete_requests, methods=["DELETE"]),
        Route("/_sandbox/faults", post_faults, methods=["POST"]),
        Route("/_sandbox/faults", get_faults, methods=["GET"]),
        Route("/_sandbox/faults", delete_faults, methods=["DELETE"]),
        Route("/_sandbox/variants", get_variants, methods=["GET"]),
        Route("/_sandbox/variants", post_variants, methods=["POST"]),
    ]
    app = Starlette(routes=sandbox_routes + vendor_routes)
    app.add_middleware(_SandboxMiddleware, emulator=emulator, routes=vendor_routes)
    return app


@dataclass
class TlsFiles:
    """A server certificate chain and key on disk, for uvicorn."""

    certfile: str
    keyfile: str


class _QuietShutdown(logging.Filter):
    """Drops uvicorn's note that idle keep-alive connections were cut at shutdown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "timeout graceful shutdown exceeded" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietShutdown())


class ServedApp:
    """An ASGI app served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, app: ASGIApp, *, tls: TlsFiles | None = None, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it every small response waits for a delayed ACK.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            ssl_certfile=tls.certfile if tls else None,
            ssl_keyfile=tls.keyfile if tls else None,
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout_s: float = 10.0) -> ServedApp:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"emulator at {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


def json_error(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A vendor-shaped JSON error response."""
    return JSONResponse(payload, status_code=status, headers=headers)


def parse_json_body(raw: bytes) -> Any:
    """Parse a JSON request body; raise ValueError with a clear message."""
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise ValueError(f"request body is not valid JSON: {exc}") from exc


EmulatorFactory = Callable[[dict[str, Any]], Emulator]
