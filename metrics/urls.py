from django.urls import path

from metrics import api, pages

urlpatterns = [
    path("api/v1/metrics", api.MetricSeriesView.as_view(), name="api-metrics"),
    path("api/v1/metrics/names", api.MetricNamesView.as_view(), name="api-metric-names"),
    path("charts", pages.chart_page, name="metric-chart"),
    path("charts.csv", pages.chart_csv, name="metric-chart-csv"),
]
