from django.urls import path

from alerts import api, views

urlpatterns = [
    path("alerts", views.alerts_page, name="alerts"),
    path("api/v1/alerts", api.AlertsView.as_view(), name="api-alerts"),
    path("api/v1/alerts/rules", api.RulesView.as_view(), name="api-alert-rules"),
]
