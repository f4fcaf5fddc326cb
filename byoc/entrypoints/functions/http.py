"""HTTP functions (route prefix /api). Each turns a request into one service call."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

import azure.functions as func

from byoc.domain.inventory import now_iso
from byoc.entrypoints.functions.responses import error_response, json_response
from byoc.telemetry import bind_correlation, invocation

bp = func.Blueprint()
log = logging.getLogger("byoc.http")

_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}


@bp.function_name("twilio_numbers_webhook")
@bp.route(route="twilio/numbers", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def twilio_numbers_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """A signed notice that a number was bought, changed or released (docs/twilio.md)."""

    from byoc.bootstrap import get_services
    from byoc.services.webhooks import WebhookRequest
    from byoc.settings import ConfigurationError

    try:
        answer = get_services().twilio_webhook.accept(WebhookRequest(
            body=req.get_body(),
            query=urlsplit(req.url).query,
            content_type=req.headers.get("content-type"),
            signature=req.headers.get("x-twilio-signature"),
            byoc_signature=req.headers.get("x-byoc-signature"),
            # Azure's front end sets X-Forwarded-For to the client's "address:port".
            sender=(req.headers.get("x-forwarded-for") or "").split(",")[0].strip()
            .rsplit(":", 1)[0],
        ))
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    bind_correlation(answer.body.get("correlation_id"))
    response = json_response(answer.body, answer.status)
    if answer.retry_after_s is not None:
        response.headers["Retry-After"] = str(answer.retry_after_s)
    return response


@bp.function_name("numbers_purchase")
@bp.route(route="numbers/purchase", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def numbers_purchase(req: func.HttpRequest) -> func.HttpResponse:
    """`{area_code, count, contains?, dry_run?}`: buy numbers onto the trunk and onboard them."""
    from byoc.bootstrap import get_services
    from byoc.domain.policy import PolicyError
    from byoc.ports import TwilioError
    from byoc.services.purchases import PurchaseRefused, parse_purchase_request
    from byoc.settings import ConfigurationError

    try:
        data = req.get_json()
    except ValueError:
        return error_response(400, "the body must be JSON: {area_code, count, contains?, dry_run?}")
    try:
        result = get_services().purchases.buy(parse_purchase_request(data))
    except PurchaseRefused as exc:
        return error_response(400, str(exc))
    except TwilioError as exc:
        return error_response(502, str(exc))
    except PolicyError as exc:
        return error_response(503, "the routing policy is invalid", problems=str(exc).splitlines())
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    bind_correlation(result.correlation_id)
    return json_response(result.to_json(), 200 if result.dry_run else 202)


@bp.function_name("resync")
@bp.route(route="resync", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def resync(req: func.HttpRequest) -> func.HttpResponse:
    """`?target=all|<name>&dry_run=true` returns the plans; without dry_run queues the syncs."""
    from byoc.adapters.policy_source import PolicyUnavailable
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import new_correlation_id
    from byoc.domain.policy import PolicyError
    from byoc.domain.targets import SELECTOR_PATTERN, SELECTOR_RULE
    from byoc.services.reconciler import UnknownTarget
    from byoc.settings import ConfigurationError

    target = req.params.get("target", "all")
    dry_run_text = req.params.get("dry_run", "false").lower()
    if not re.match(SELECTOR_PATTERN, target):
        return error_response(400, f"target {target!r} is not one of {SELECTOR_RULE}")
    if dry_run_text not in _BOOL:
        return error_response(400, f"dry_run must be true or false, not {dry_run_text!r}")
    try:
        services = get_services()
        if _BOOL[dry_run_text]:
            return json_response(services.reconcile.dry_run(target).to_json())
        correlation_id = new_correlation_id()
        bind_correlation(correlation_id)
        targets = services.reconcile.enqueue(
            target, reason="manual resync", correlation_id=correlation_id
        )
    except UnknownTarget as exc:
        return error_response(404, str(exc))
    except (PolicyError, PolicyUnavailable) as exc:
        return error_response(503, "the routing policy cannot be used", problems=str(exc).splitlines())
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    return json_response({"correlation_id": correlation_id, "targets": targets}, 202)


@bp.function_name("genesys_events")
@bp.route(route="genesys/events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def genesys_events(req: func.HttpRequest) -> func.HttpResponse:
    """Genesys notifications relayed by a workflow data action (shared secret header)."""
    from byoc.bootstrap import get_services
    from byoc.services.genesys_events import SECRET_HEADER
    from byoc.settings import ConfigurationError

    try:
        events = get_services().genesys_events
        reply = events.handle(req.headers.get(SECRET_HEADER), req.get_body())
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    return json_response(reply.body, reply.status)


@bp.function_name("status")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def status(req: func.HttpRequest) -> func.HttpResponse:
    """Inventory, per-target convergence, health and poison depth, as JSON."""
    from byoc.bootstrap import get_services
    from byoc.services.status import build_status
    from byoc.settings import ConfigurationError

    try:
        services = get_services()
        report = build_status(
            inventory=services.inventory, state=services.state, queue=services.queue
        )
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    return json_response(report.to_json())


@bp.function_name("number_trace")
@bp.route(route="numbers/{number}/trace", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def number_trace(req: func.HttpRequest) -> func.HttpResponse:
    """The number's call path hop by hop, read live from every vendor (`byoc trace NUMBER`):
    200 with `ok` false when a hop fails; 400 for a number that is not E.164."""

    from byoc.bootstrap import get_services
    from byoc.domain.numbers import InvalidNumber, parse_number
    from byoc.domain.policy import PolicyError
    from byoc.settings import ConfigurationError

    try:
        services = get_services()
        try:
            number = parse_number(unquote(req.route_params.get("number", "")),  # %2B is '+'
                                  services.settings.default_region)
        except (InvalidNumber, ValueError) as exc:
            return error_response(400, str(exc))
        result = services.trace.trace(number)
    except PolicyError as exc:
        return error_response(503, "the routing policy is invalid", problems=str(exc).splitlines())
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    return json_response(result.to_json())


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@invocation("http")
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """The status page (HTML); `?number=` adds that number's trace."""
    from byoc.bootstrap import get_services
    from byoc.domain.numbers import InvalidNumber, parse_number
    from byoc.entrypoints.dashboard import CONTENT_SECURITY_POLICY, render_dashboard
    from byoc.services.status import build_status
    from byoc.settings import ConfigurationError

    try:
        services = get_services()
        report = build_status(
            inventory=services.inventory, state=services.state, queue=services.queue)
        operations = services.operations.recent(limit=20)
    except ConfigurationError as exc:
        return error_response(503, "byoc is not configured", problems=exc.problems)
    asked = (req.params.get("number") or "").strip()
    trace = error = None
    status = 200
    if asked:
        try:
            trace = services.trace.trace(
                parse_number(asked, services.settings.default_region)).to_json()
        except (InvalidNumber, ValueError) as exc:
            error, status = str(exc), 400
        except Exception as exc:  # the page still shows the rest
            log.warning("trace failed", extra={"event": "dashboard.trace", "error": str(exc)})
            error, status = f"the trace could not run: {type(exc).__name__}: {exc}", 200
    page = render_dashboard(report.to_json(), operations, generated_at=now_iso(), number=asked,
                            trace=trace, trace_error=error, function_key=req.params.get("code"))
    return func.HttpResponse(page, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Content-Type": "text/html; charset=utf-8",
                                      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                      "X-Content-Type-Options": "nosniff",
                                      "Cache-Control": "no-store"})


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Cheap liveness: the app is loaded and answering. Touches nothing else."""
    return json_response({"status": "ok"})
