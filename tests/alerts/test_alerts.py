"""Alert rules over real stores: each kind, the state machine (fires once, stays quiet, resolves once), grants
at evaluation time, and exactly one transition and one notification per channel whatever the re-runs."""

from datetime import timedelta

import pytest
from django.core import mail

from access.models import Grant
from alerts import notify, states
from alerts.models import Alert, Delivery, Rule, Transition
from tests.access_support import user_granted
from tests.alert_support import NOW, errors, recall, rule

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("metric_names")]


def transitions() -> list[tuple[int, str, str]]:
    return sorted(Transition.objects.values_list("alert__user_id", "alert__model", "kind"))


@pytest.fixture
def owner(logs_db):
    return user_granted("owner", read=[1, 2, 3])


def test_a_threshold_rule_fires_once_stays_quiet_and_resolves_once(owner):
    low = rule(owner)
    recall(1, 10, 0.5)
    first = states.tick(NOW)
    assert len(first.fired) == 1
    assert states.tick(NOW + timedelta(minutes=1)).fired == []  # still breaching: no second notification
    recall(1, 5, 0.99)
    recall(1, 4, 0.99)
    recall(1, 3, 0.99)  # average (0.5 + 3 x 0.99) / 4 = 0.87: recovered
    second = states.tick(NOW + timedelta(minutes=2))
    assert second.resolved == first.fired
    assert states.tick(NOW + timedelta(minutes=3)).resolved == []
    assert transitions() == [(1, "resnet", "fired"), (1, "resnet", "resolved")]
    alert = Alert.objects.get()
    assert (alert.rule, alert.value, alert.firing) == (low, 0.5, False)
    assert Delivery.objects.filter(channel="email").count() == 2 and not Delivery.objects.filter(channel="webhook")


def test_each_model_of_a_user_is_its_own_series_and_a_rule_model_narrows_them(owner):
    recall(1, 10, 0.5, model="resnet")
    recall(1, 10, 0.6, model="bert")
    recall(2, 10, 0.9, model="bert")
    rule(owner, name="every model")
    rule(owner, name="bert only", model="bert")
    states.tick(NOW)
    assert sorted(Alert.objects.values_list("rule__name", "user_id", "model")) == [
        ("bert only", 1, "bert"),
        ("every model", 1, "bert"),
        ("every model", 1, "resnet"),
    ]


@pytest.mark.parametrize(
    ("aggregate", "comparison", "threshold", "fires"),
    [
        ("min", "below", 0.3, True),  # 0.2
        ("max", "above", 0.85, True),  # 0.9
        ("last", "below", 0.5, False),  # 0.8
        ("avg", "above", 0.6, True),  # (0.2 + 0.9 + 0.8) / 3 = 0.633...
        ("avg", "above", 0.65, False),
    ],
)
def test_a_threshold_rule_compares_the_aggregate_it_names(owner, aggregate, comparison, threshold, fires):
    recall(1, 20, 0.2)
    recall(1, 15, 0.9)
    recall(1, 10, 0.8)
    rule(owner, aggregate=aggregate, comparison=comparison, threshold=threshold)
    assert bool(states.tick(NOW).fired) is fires


def test_a_window_of_hours_reads_the_hours_before_the_current_one(owner):
    recall(1, 70, 0.1)  # the hour before the current one
    rule(owner, name="one hour", window_minutes=60)
    rule(owner, name="two hours", window_minutes=120)
    states.tick(NOW)
    assert list(Alert.objects.values_list("rule__name", flat=True)) == ["two hours"]


def test_a_drop_rule_compares_the_window_mean_with_the_window_before(owner):
    recall(1, 70, 0.8)
    recall(1, 50, 0.8)  # previous hour's mean 0.8
    recall(1, 10, 0.4)  # current hour's 0.4: a 50 % drop
    recall(2, 70, 0.8)
    recall(2, 10, 0.7)  # 12.5 %: under the rule's 20
    recall(3, 10, 0.1)  # nothing before: no reading at all
    rule(owner, kind=Rule.Kind.DROP, threshold=20, comparison="", aggregate="")
    states.tick(NOW)
    alert = Alert.objects.get()
    assert (alert.user_id, alert.value) == (1, pytest.approx(50.0))


def test_an_errors_rule_counts_error_and_critical_logs_of_each_user_in_the_window(owner):
    errors(1, 3, 3)
    errors(1, 2, 1, level="critical")
    errors(1, 2, 5, level="warning")
    errors(2, 3, 3)
    errors(2, 40, 5)  # before the 10-minute window
    rule(owner, kind=Rule.Kind.ERRORS, metric="", threshold=3, window_minutes=10, aggregate="", comparison="")
    states.tick(NOW)
    alert = Alert.objects.get()
    assert (alert.user_id, alert.model, alert.value) == (1, "", 4.0)
    # Ten minutes later the window holds none of them: resolved.
    assert states.tick(NOW + timedelta(minutes=15)).resolved == [alert.pk]


def test_a_rule_sees_only_the_user_ids_its_owner_is_granted_when_it_is_evaluated(owner):
    recall(1, 10, 0.5)
    recall(4, 10, 0.5)  # never granted to the owner, though the rule names it
    recall(5, 10, 0.5)
    listed = rule(owner, user_ids=[1, 4])
    everything = rule(owner, name="all granted")  # empty list: the whole grant
    states.tick(NOW)
    assert sorted(Alert.objects.values_list("rule_id", "user_id")) == [(listed.pk, 1), (everything.pk, 1)]
    grant = Grant.objects.get(user=owner)
    grant.read_user_ids = "2,3"
    grant.save()
    result = states.tick(NOW + timedelta(minutes=1))
    assert len(result.resolved) == 2 and result.fired == []
    assert not Alert.objects.filter(resolved_at=None).exists()
    assert not Alert.objects.exclude(user_id=1).exists()


def test_a_disabled_rule_is_not_evaluated(owner):
    recall(1, 10, 0.5)
    rule(owner, enabled=False)
    assert states.tick(NOW).fired == []


def test_a_re_run_tick_sends_each_notification_once(owner):
    rule(owner)
    recall(1, 10, 0.5)
    states.tick(NOW)
    states.tick(NOW)  # the same tick again (a beat retry, two beats at once)
    delivery = Delivery.objects.get()
    assert notify.deliver(delivery.pk).status == "sent"
    assert notify.deliver(delivery.pk).status is None  # a second task for it: nothing to do
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@example.com"]
    assert message.subject == "[firing] recall low: user 1, resnet"
    assert "/charts?name=Recall&user_id=1" in message.body and "/?user_id=1&from=" in message.body


def test_a_tick_that_dies_inside_a_transition_leaves_nothing_and_the_next_fires_once(owner, monkeypatch):
    rule(owner)
    recall(1, 10, 0.5)

    def crash(*args, **kwargs):
        raise RuntimeError("the tick's process died")

    with monkeypatch.context() as patched:
        patched.setattr(Delivery.objects, "bulk_create", crash)  # after the alert and transition rows
        with pytest.raises(RuntimeError):
            states.tick(NOW)
    assert not Alert.objects.exists() and not Transition.objects.exists()
    states.tick(NOW)
    assert transitions() == [(1, "resnet", "fired")]
    assert Delivery.objects.count() == 1


def test_deliveries_a_dead_tick_never_queued_are_queued_by_a_later_tick(owner, monkeypatch):
    rule(owner)
    recall(1, 10, 0.5)

    def crash(ids):
        raise RuntimeError("the process died after its commit")

    with monkeypatch.context() as patched:
        patched.setattr(notify, "queue", crash)
        states.tick(NOW)
    assert Delivery.objects.get().queued_at is None
    assert states.tick(NOW + timedelta(seconds=30)).requeued == 0  # too fresh to be lost
    assert states.tick(NOW + timedelta(minutes=2)).requeued == 1
    assert Delivery.objects.get().queued_at is not None
    assert transitions() == [(1, "resnet", "fired")]


def test_a_failed_email_is_retried_then_given_up_and_logged(owner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on the discard port
    settings.ALERTS_MAX_ATTEMPTS = 2
    rule(owner)
    recall(1, 10, 0.5)
    states.tick(NOW)
    delivery = Delivery.objects.get()
    first = notify.deliver(delivery.pk)
    assert (first.status, first.retry_in) == ("pending", settings.ALERTS_RETRY_BASE_SECONDS)
    assert notify.deliver(delivery.pk).status == "failed"
    assert notify.deliver(delivery.pk).status is None
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and "ConnectionRefusedError" in delivery.last_error


def test_the_tick_is_a_beat_task_every_minute(db):
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    from alerts import tasks

    # The migration's row (made again here: a transactional test's flush empties data migrations' rows).
    importlib.import_module("alerts.migrations.0002_schedule").create(apps, None)
    entry = PeriodicTask.objects.get(task=tasks.evaluate_alerts.name)
    assert (entry.interval.every, entry.interval.period, entry.enabled) == (1, "minutes", True)
