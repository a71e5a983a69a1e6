"""`make run`'s demo alert rules: created once by the demo seeding, and one fires from the seeded logs at the
first tick, its email going through Django's backend."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.management import call_command

from alerts import notify, states
from alerts.demo import DEMO_EMAIL
from alerts.models import Alert, Delivery, Rule

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("metric_names")]


def test_the_demo_rules_are_made_once_and_one_fires_from_the_seeded_logs(logs_db):
    call_command("seed_demo_logs", days=1, per_day=3000, seed=3, verbosity=0)
    call_command("ensure_demo_user", stdout=None)
    call_command("seed_demo_alert_rules")
    call_command("seed_demo_alert_rules")  # make run again
    assert Rule.objects.count() == 2
    assert set(Rule.objects.values_list("email", flat=True)) == {DEMO_EMAIL}
    assert not Rule.objects.exclude(webhook_url="").exists()
    now = datetime.now(UTC)
    fired = states.tick(now).fired
    assert fired and set(Alert.objects.values_list("rule__kind", flat=True)) == {Rule.Kind.THRESHOLD}
    delivery = Delivery.objects.filter(channel="email").first()
    assert notify.deliver(delivery.pk).status == "sent"
    assert mail.outbox[0].to == [DEMO_EMAIL] and "Recall below 0.75" in mail.outbox[0].subject
