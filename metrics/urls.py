from django.urls import path

from metrics import api

urlpatterns = [
    path("api/v1/metrics", api.MetricSeriesView.as_view(), name="api-metrics"),
    path("api/v1/metrics/names", api.MetricNamesView.as_view(), name="api-metric-names"),
]
