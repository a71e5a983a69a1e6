from django.contrib import admin
from django.urls import include, path

from logsite.health import healthz
from logsite.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("retrieval.urls")),
]
