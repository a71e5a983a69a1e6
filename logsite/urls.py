from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from logsite.health import healthz, readyz
from logsite.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # Login, logout and password change; no password reset, which needs email this app does not send.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    # The front doors, each app its routes (the names are global: reverse("api-logs"), reverse("search")).
    path("", include("explorer.urls")),
    path("", include("api.urls")),
    path("", include("intake.urls")),
    path("", include("metrics.urls")),
    path("", include("alerts.urls")),
]
