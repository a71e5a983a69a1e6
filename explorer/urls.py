from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views as api
from explorer import views
from intake import otlp_api

# The docs page sends a stranger to the login page (the schema answers 401/403: SERVE_PERMISSIONS).
api_docs = SpectacularSwaggerView.as_view(url_name="api-schema")
if not settings.API_DOCS_PUBLIC:
    api_docs = login_required(api_docs)

urlpatterns = [
    path("", views.search_page, name="search"),
    path("histogram", views.histogram_page, name="search-histogram"),
    path("tail", views.tail_rows, name="tail-rows"),
    path("export.<str:fmt>", views.export, name="export"),
    path("searches/save", views.save_search, name="save-search"),
    path("preferences/time", views.time_preference, name="time-preference"),
    re_path(r"^logs/(?P<log_id>[0-9a-f]{24})$", views.log_page, name="log"),
    re_path(r"^logs/(?P<log_id>[0-9a-f]{24})/around$", views.log_around, name="log-around"),
    path("searches/<int:pk>/delete", views.delete_saved_search, name="delete-saved-search"),
    path("api/v1/logs", api.LogSearchView.as_view(), name="api-logs"),
    path("api/v1/logs/tail", api.LogTailView.as_view(), name="api-logs-tail"),
    path("api/v1/logs/<str:id>", api.LogDetailView.as_view(), name="api-log"),
    path("api/v1/logs/<str:id>/context", api.LogContextView.as_view(), name="api-log-context"),
    # OpenTelemetry's own path for OTLP/HTTP logs, so that an exporter needs only the site's URL.
    path("v1/logs", otlp_api.OTLPLogsView.as_view(), name="otlp-logs"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # The Flask seed app's route; path segments are validated by the filterset (400, not 404).
    path("logs/date/<str:day>/user/<str:user_id>/level/<str:level>", api.SeedLogsView.as_view(), name="seed-logs"),
]
