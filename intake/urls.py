from django.urls import path

from intake import otlp_api

urlpatterns = [
    # OpenTelemetry's own path for OTLP/HTTP logs, so that an exporter needs only the site's URL.
    path("v1/logs", otlp_api.OTLPLogsView.as_view(), name="otlp-logs"),
]
