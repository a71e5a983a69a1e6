from typing import Any

from django.core.management.base import BaseCommand

from archive import rehydrate


class Command(BaseCommand):
    help = "Delete rehydrated logs whose time is over (the hourly beat task does the same)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Deleted {rehydrate.expire():,} rehydrated logs whose time was over.")
