"""The base of every DRF door (the JSON API, the seed route, the OTLP receiver): authentication, the token's
scopes, the throttle scope per method, and a source that cannot answer as a 503 naming it as the caller may
see it (`doors.door.unavailable`), so no view maps `SourceUnavailable` itself."""

from typing import NoReturn

from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from access.tokens import TokenAuthentication, TokenScopes
from doors.door import unavailable
from doors.throttles import ScopeThrottle, whole_seconds
from retrieval.sources import SourceUnavailable


class LogsAPIView(APIView):
    # Token first, so that a missing or wrong token is a 401 with WWW-Authenticate: Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    # A token reads only with logs:read and writes only with logs:write (access.tokens).
    permission_classes = [IsAuthenticated, TokenScopes]
    # HTTP method -> the THROTTLE_RATES scope its requests count against.
    throttle_scopes: dict[str, str] = {}

    def get_throttles(self) -> list[BaseThrottle]:
        scope = self.throttle_scopes.get(self.request.method or "")
        return [ScopeThrottle(scope)] if scope else []

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise Throttled(wait=whole_seconds(wait))

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SourceUnavailable):
            return Response({"detail": unavailable(self.request, exc)}, status=503)
        return super().handle_exception(exc)
