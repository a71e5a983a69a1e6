from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.demo import demo_rules


class Command(BaseCommand):
    help = "Create the demo alert rules of the demo login (ensure_demo_user) unless they exist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=username).first()
        if owner is None:
            raise CommandError(f"No user {username!r}: run ensure_demo_user first.")
        for rule in demo_rules(owner):
            self.stdout.write(f"Demo alert rule: {rule.name}")
