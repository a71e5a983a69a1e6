from django.contrib import admin
from django.http import HttpRequest

from metrics import extract
from metrics.models import MetricName


@admin.register(MetricName)
class MetricNameAdmin(admin.ModelAdmin):
    """The names extraction looks for in messages; a change is seen by every process within a minute
    (extract.NAMES_TTL_SECONDS), and applies to logs stored from then on."""

    list_display = ["name"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: MetricName, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        extract.names.forget()

    def delete_model(self, request: HttpRequest, obj: MetricName) -> None:
        super().delete_model(request, obj)
        extract.names.forget()
