"""The demo's alert rules (`make run`): one fires at the first tick from the seeded logs (a drifting Recall), one
while `demo_traffic` sends (and resolves once it stops). Email only, to Django's console backend."""

from django.contrib.auth.models import User

from alerts.models import Rule

DEMO_EMAIL = "demo@localhost"


def demo_rules(owner: User) -> list[Rule]:
    """Create the demo rules of `owner` unless they exist (by name); returns them."""
    wanted = [
        Rule(
            name="Demo: Recall below 0.75 (24 h average)",
            kind=Rule.Kind.THRESHOLD,
            metric="Recall",
            aggregate=Rule.Aggregate.AVG,
            comparison=Rule.Comparison.BELOW,
            threshold=0.75,
            window_minutes=24 * 60,
        ),
        Rule(
            name="Demo: over 100 error-level logs of a user in 5 minutes (demo_traffic)",
            kind=Rule.Kind.ERRORS,
            threshold=100,
            window_minutes=5,
        ),
    ]
    rules = []
    for rule in wanted:
        found = Rule.objects.filter(owner=owner, name=rule.name).first()
        if found is None:
            rule.owner, rule.email = owner, DEMO_EMAIL
            rule.full_clean(exclude=["owner"])
            rule.save()
            found = rule
        rules.append(found)
    return rules
