"""Answer the probe and scrape endpoints before host validation and the HTTPS redirect."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from logsite.health import healthz, readyz
from logsite.metrics import metrics_view

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
