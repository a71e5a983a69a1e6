"""POST /v1/logs: the OpenTelemetry OTLP/HTTP logs receiver (protobuf or JSON), a front door to ingest.

The same authentication as the JSON API (`doors.apiview.LogsAPIView`), and the same write path
(`intake.ingest.store`, which `ingest_logs` ends in); decoding and mapping are `intake.otlp`'s.
"""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from access.scope import write_scope
from doors.apiview import LogsAPIView
from intake import ingest, otlp
from intake.bodies import MAX_BODY_BYTES, BodyError, read_body
from intake.ingest import IngestError, IngestForbidden, IngestUnavailable, TooManyRecords

# OTLP exporters retry a 503 (as 429, 502, 504), after Retry-After when given.
RETRY_AFTER_SECONDS = 5


class OTLPLogsView(LogsAPIView):
    """Answers are OTLP messages in the request's encoding: 200 with ExportLogsServiceResponse (its
    partial_success counts and names the rejected records), else a google.rpc.Status."""

    throttle_scopes = {"POST": "ingest"}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # An exporter may send `Accept: application/x-protobuf`; DRF's renderers answer only its own errors (401).
        return super().perform_content_negotiation(request, force=True)

    # DRF sends on any HttpResponse handle_exception returns; its stubs say Response.
    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        if isinstance(exc, Throttled):
            # OTLP/HTTP's throttling answer: 429, a Status, and Retry-After, which exporters honour.
            encoding = otlp.encoding_of(self.request.content_type or "") or otlp.JSON
            response = status_response(429, str(exc.detail), encoding)
            response["Retry-After"] = str(exc.wait)  # type: ignore[attr-defined]  # set by Throttled()
            return response
        return super().handle_exception(exc)

    @extend_schema(exclude=True)  # OTLP's operation, not one of the JSON API's
    def post(self, request: Request) -> HttpResponse:
        http_request = request._request
        content_type = http_request.content_type or ""
        encoding = otlp.encoding_of(content_type)
        if encoding is None:
            message = f"Content-Type {content_type[:60]!r} is not supported; send {' or '.join(otlp.ENCODINGS)}."
            return status_response(415, message, otlp.JSON)
        try:
            export = otlp.decode(read_body(http_request, MAX_BODY_BYTES), encoding)
        except BodyError as exc:
            return status_response(exc.status, str(exc), encoding)
        except otlp.UndecodableBody as exc:
            return status_response(400, str(exc), encoding)
        mapped = otlp.map_request(export, settings.OTLP_USER_ID_ATTRIBUTE)
        if mapped.documents:
            try:
                # Checked once, by map_request: the documents go straight to ids and storage.
                ingest.store(ingest.with_ids(mapped.documents), scope=write_scope(request))
            except IngestForbidden as exc:  # nothing of the request is stored, as for the JSON API
                return status_response(
                    403, "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.errors.items()), encoding
                )
            except IngestError as exc:  # the batch as a whole, e.g. more records than ingest takes at once
                return status_response(
                    413 if isinstance(exc, TooManyRecords) else 400,
                    "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.errors.items()),
                    encoding,
                )
            except IngestUnavailable as exc:
                response = status_response(503, str(exc), encoding)
                response["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return response
        body = otlp.export_response(mapped.problems, encoding)
        return HttpResponse(body, content_type=encoding)


def status_response(status: int, message: str, encoding: str) -> HttpResponse:
    return HttpResponse(otlp.status_body(status, message, encoding), status=status, content_type=encoding)
