"""Which alerts and rules a caller may see: alerts of the user_ids they are granted (whoever owns the rule),
their own rules. The page, the API and the admin all ask here."""

from collections.abc import Sequence

from django.db.models import QuerySet

from access.scope import OutsideScope, Scope
from alerts.models import Alert, Delivery, Rule

STATES = ("firing", "resolved")


def visible_alerts(scope: Scope, user_ids: Sequence[int] = (), state: str = "") -> QuerySet[Alert]:
    """Alerts of `user_ids` (default: every granted one), newest first; OutsideScope if one is not granted."""
    if outside := scope.outside(user_ids):
        raise OutsideScope(outside)
    found = Alert.objects.select_related("rule").order_by("-fired_at", "-pk")
    if user_ids:
        found = found.filter(user_id__in=user_ids)
    elif not scope.everything:
        found = found.filter(user_id__in=sorted(scope.user_ids or ()))
    if state == "firing":
        found = found.filter(resolved_at=None)
    elif state == "resolved":
        found = found.exclude(resolved_at=None)
    return found


def visible_deliveries(scope: Scope) -> QuerySet[Delivery]:
    found = Delivery.objects.select_related("transition__alert__rule")
    return found if scope.everything else found.filter(transition__alert__user_id__in=sorted(scope.user_ids or ()))


def own_rules(owner_id: int, scope: Scope, user_ids: Sequence[int] = ()) -> QuerySet[Rule]:
    """The owner's rules; with `user_ids` (each granted, else OutsideScope), those naming one of them."""
    if outside := scope.outside(user_ids):
        raise OutsideScope(outside)
    found = Rule.objects.filter(owner_id=owner_id)
    if user_ids:
        # JSON containment is not on every SQL database: the owner's rules are few, filtered here.
        wanted = set(user_ids)
        found = found.filter(pk__in=[rule.pk for rule in found if wanted & set(rule.user_ids)])
    return found
