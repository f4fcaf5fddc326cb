"""OpenTelemetry for the function app: set up on the first invocation, one trace per piece of work.

`configure()` runs once per worker process, at the first invocation (not at import: importing
`function_app` stays cheap). With `APPLICATIONINSIGHTS_CONNECTION_STRING` set it starts the Azure
Monitor distro (traces, metrics and byoc's logs with their extra fields as attributes), using the
app's managed identity when `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for Entra ID; without
it, spans and metrics go to whatever provider is installed (none: no-ops). Either way the handlers
that see byoc's records get the invocation context and secret redaction.

`invocation(...)` wraps each function: it binds the invocation id and opens the invocation's span;
`job_span(...)` continues the trace a queue message carries (W3C `traceparent` in the job).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import threading
import typing
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from byoc.observability import bind, bound, install_filters, log_level_from, redact

if TYPE_CHECKING:
    from opentelemetry.trace import Link, Span, Tracer

# OpenTelemetry is imported where it is used: importing the function app must stay cheap.

log = logging.getLogger("byoc.telemetry")

INSTRUMENTATION = "byoc"
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
_ENABLED_INSTRUMENTATIONS = ("azure_sdk", "requests", "urllib3", "urllib", "httpx")
_DISABLED_INSTRUMENTATIONS = ("django", "fastapi", "flask", "psycopg2")

_lock = threading.Lock()
_configured = False

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
T = TypeVar("T")
SpanKindName = Literal["internal", "server", "consumer", "producer", "client"]


def configure() -> None:
    """Once per process: exporters (when configured) and the filters on every log handler."""
    global _configured
    if _configured:
        return
    with _lock:
        if _configured:
            return
        try:
            _start_azure_monitor()
        except Exception as exc:  # telemetry must never stop the work it observes
            log.warning("Azure Monitor could not be configured; telemetry is off", extra={
                "event": "telemetry.unavailable", "error": f"{type(exc).__name__}: {exc}"[:300]})
        try:
            level = log_level_from(os.environ.get("BYOC_LOG_LEVEL"))
        except ValueError as exc:  # settings validation names it too; logging stays at INFO
            level = "INFO"
            log.warning(f"{exc}; logging at INFO", extra={"event": "telemetry.log_level_invalid"})
        logging.getLogger(INSTRUMENTATION).setLevel(level)
        _configured = True


class ContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context: the current span (so
    a task's spans and logs join the caller's trace) and the bound log fields. A plain pool, and
    `loop.run_in_executor` on it, start each task in an empty context."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def task() -> T:
            return context.run(fn, *args, **kwargs)

        return super().submit(task)


def install_log_filters() -> None:
    """Context and redaction on the handlers that see byoc's records (the host's and OTel's)."""
    for logger in (logging.getLogger(), logging.getLogger(INSTRUMENTATION)):
        for handler in logger.handlers:
            exporter = type(handler).__module__.startswith("opentelemetry.")
            install_filters(handler, attributes=exporter)


def _start_azure_monitor() -> None:
    connection = os.environ.get(CONNECTION_STRING, "").strip()
    if not connection:
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # the worker already did (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true)
    from azure.monitor.opentelemetry import configure_azure_monitor

    options: dict[str, Any] = {
        "connection_string": connection,
        "logger_name": INSTRUMENTATION,
        "instrumentation_options": {
            **{name: {"enabled": True} for name in _ENABLED_INSTRUMENTATIONS},
            **{name: {"enabled": False} for name in _DISABLED_INSTRUMENTATIONS},
        },
    }
    credential = _credential(os.environ.get(AUTHENTICATION_STRING, ""))
    if credential is not None:
        options["credential"] = credential
    configure_azure_monitor(**options)
    log.info("Azure Monitor configured", extra={"event": "telemetry.configured",
                                                "entra_id": credential is not None})


def _credential(authentication: str) -> Any:
    """The managed identity `ClientId=...;Authorization=AAD` names (the host's own setting)."""
    parts = dict(p.split("=", 1) for p in authentication.split(";") if "=" in p)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId") or None
    return ManagedIdentityCredential(client_id=client_id)


def tracer() -> Tracer:
    from opentelemetry import trace

    return trace.get_tracer(INSTRUMENTATION)


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set attributes on a span: None skipped, text redacted, anything else as text."""
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = redact(value)
        elif not isinstance(value, (bool, int, float)):
            value = redact(str(value))
        span.set_attribute(key, value)


def fail(span: Span, exc: BaseException) -> None:
    """Mark a span failed with the (redacted) error; no traceback in an attribute."""
    from opentelemetry.trace import Status, StatusCode

    message = redact(f"{type(exc).__name__}: {exc}")[:1000]
    span.set_status(Status(StatusCode.ERROR, message))
    span.add_event("exception", {"exception.type": type(exc).__name__,
                                 "exception.message": message})


@contextmanager
def span(name: str, *, kind: SpanKindName = "internal", context: Any = None,
         links: list[Link] | None = None, **attributes: Any) -> Iterator[Span]:
    """A span of byoc's, failed (redacted) when the block raises."""
    from opentelemetry.trace import SpanKind

    with tracer().start_as_current_span(name, context=context, kind=SpanKind[kind.upper()],
                                        links=links,
                                        record_exception=False,
                                        set_status_on_exception=False) as current:
        set_attributes(current, {f"byoc.{k}": v for k, v in attributes.items()})
        try:
            yield current
        except BaseException as exc:
            fail(current, exc)
            raise


def bind_correlation(correlation_id: str | None) -> None:
    """Name byoc's correlation id on this invocation's logs and span once it is known."""
    if not correlation_id:
        return
    from opentelemetry import trace

    bind(correlation_id=correlation_id)
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("byoc.correlation_id", correlation_id)


# --- across the queue ------------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, for a job to carry (None outside a span)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.get_global_textmap().inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> Any:
    """An OpenTelemetry context whose parent is `traceparent` (None: no parent known)."""
    if not traceparent:
        return None
    from opentelemetry import propagate

    return propagate.get_global_textmap().extract({"traceparent": traceparent})


@contextmanager
def job_span(job_type: str, *, traceparent: str | None, correlation_id: str,
             **attributes: Any) -> Iterator[Span]:
    """The span of one job: a child of the span that queued it, linked to this invocation's."""
    from opentelemetry import trace
    from opentelemetry.trace import Link

    here = trace.get_current_span().get_span_context()
    links = [Link(here)] if here.is_valid and traceparent else None
    parent = context_from(traceparent)
    bind(correlation_id=correlation_id)
    with span(f"job {job_type}", kind="consumer", context=parent, links=links,
              job=job_type, correlation_id=correlation_id, **attributes) as current:
        yield current


# --- function invocations --------------------------------------------------------------------


@contextmanager
def invocation_scope(function: str, *, trigger: str, invocation_id: str | None = None,
                     traceparent: str | None = None, open_span: bool = True) -> Iterator[None]:
    """Everything one invocation does: ids bound to its logs, and its span (unless a job opens
    its own, as the queue function's does)."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    configure()
    install_log_filters()
    token = None
    if traceparent and not trace.get_current_span().get_span_context().is_valid:
        parent = context_from(traceparent)
        if parent is not None:
            token = otel_context.attach(parent)
    try:
        with bound(invocation_id=invocation_id, function=function):
            if not open_span:
                yield
                return
            with span(function, kind="server" if trigger == "http" else "internal",
                      function=function, trigger=trigger, invocation_id=invocation_id):
                yield
    finally:
        if token is not None:
            otel_context.detach(token)


def invocation(trigger: str, *, open_span: bool = True) -> Callable[[F], F]:
    """Decorate a function of the app (under the trigger decorators): its invocation scope.

    The wrapper takes the host's `context` (invocation id, trace context) as a keyword argument,
    which the Python worker passes because the signature names it; callers without one (tests,
    devhost) call the function as before.
    """
    import azure.functions as func

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            ctx = kwargs.pop("context", None)
            trace_context = getattr(ctx, "trace_context", None)
            with invocation_scope(
                fn.__name__, trigger=trigger, open_span=open_span,
                invocation_id=getattr(ctx, "invocation_id", None),
                traceparent=getattr(trace_context, "trace_parent", None) or None,
            ):
                return fn(*args, **kwargs)

        parameters = [*signature.parameters.values(), inspect.Parameter(
            "context", inspect.Parameter.KEYWORD_ONLY, annotation=func.Context)]
        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {**hints, "context": func.Context}
        return typing.cast(F, run)

    return decorate
