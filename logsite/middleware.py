"""Answer the probe and scrape endpoints before host validation and the HTTPS redirect; answer a service
outage as 503 and an oversized request as 400, whichever door it reached."""

import logging
from collections.abc import Callable

import botocore.exceptions
import django.db
import kombu.exceptions
import redis.exceptions
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from pymongo.errors import ConnectionFailure, PyMongoError

from logsite.health import healthz, readyz
from logsite.metrics import metrics_view

logger = logging.getLogger(__name__)

PROBE_VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


class ProbeEndpointsMiddleware:
    """Serve /healthz, /readyz and /metrics for any Host header, over plain HTTP.

    Container healthchecks, Kubernetes probes and Prometheus reach a replica by
    its IP address, which is not in ALLOWED_HOSTS, and over plain HTTP inside the
    cluster. Host validation guards URLs the app builds from the Host header;
    these views build none, so they are answered here, first in MIDDLEWARE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBE_VIEWS.get(request.path_info)
        return view(request) if view else self.get_response(request)


# How long a client is told to wait when a service the request needed did not answer.
OUTAGE_RETRY_AFTER_SECONDS = 5
# Django refuses these request parts past its limits (DATA_UPLOAD_MAX_NUMBER_FIELDS...); under DEBUG its
# error page reads request.GET again, raising once more: a 500 instead of the 400 the request deserves.
REQUEST_TOO_LARGE = (TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says a service (SQL, MongoDB, Redis, object storage) did not answer, rather than a bug."""
    if isinstance(exc, PyMongoError):
        return isinstance(exc, ConnectionFailure) or exc.timeout
    return isinstance(
        exc,
        (
            django.db.OperationalError,
            django.db.InterfaceError,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            kombu.exceptions.OperationalError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError,
        ),
    )


def error_response(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """JSON `{"detail": ...}` for the API and OTLP doors, plain text for pages and exports."""
    if request.path_info.startswith(("/api/", "/v1/")):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class ServiceFailureMiddleware:
    """Whatever a door was doing (authentication, throttle, audit, search, ingest, admin) when a service did not
    answer, the answer is 503 with Retry-After, never a 500 or a traceback (DEBUG's page included); a request
    past Django's size limits is a 400 naming the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.GET  # noqa: B018 - parsed here, once: DRF under DEBUG turns this error into an AttributeError
        except TooManyFieldsSent as exc:
            return error_response(request, 400, str(exc))
        response = self.get_response(request)
        # The doors' own 503s (a source that could not answer, a write not confirmed) say when to come back too.
        if response.status_code == 503 and not response.has_header("Retry-After"):
            response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, REQUEST_TOO_LARGE):
            return error_response(request, 400, str(exception))
        if not is_outage(exception):
            return None
        logger.warning("%s %s: a service did not answer: %r", request.method, request.path_info, exception)
        response = error_response(
            request, 503, "A service this request needs did not answer; try again after Retry-After seconds."
        )
        response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
        return response
