from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import logs, views

# The docs page sends a stranger to the login page (the schema answers 401/403: SERVE_PERMISSIONS).
api_docs = SpectacularSwaggerView.as_view(url_name="api-schema")
if not settings.API_DOCS_PUBLIC:
    api_docs = login_required(api_docs)

urlpatterns = [
    path("api/v1/logs", views.LogSearchView.as_view(), name="api-logs"),
    path("api/v1/logs/tail", logs.LogTailView.as_view(), name="api-logs-tail"),
    path("api/v1/logs/<str:id>", logs.LogDetailView.as_view(), name="api-log"),
    path("api/v1/logs/<str:id>/context", logs.LogContextView.as_view(), name="api-log-context"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # The Flask seed app's route; path segments are validated by the filterset (400, not 404).
    path("logs/date/<str:day>/user/<str:user_id>/level/<str:level>", views.SeedLogsView.as_view(), name="seed-logs"),
]
