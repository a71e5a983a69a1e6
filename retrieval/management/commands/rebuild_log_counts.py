from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from retrieval import buckets, hotstore


class Command(BaseCommand):
    help = (
        "Recount the histogram counters of hot logs (retrieval.hotstore). By default only the hours in doubt "
        "whose writer is gone; --all recounts every hour MongoDB holds logs of (after an upgrade), resuming "
        "where an interrupted run stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every hour, newest first (resumable)")

    def handle(self, *args: Any, all: bool, **options: Any) -> None:
        if all:
            left = hotstore.rebuild(
                lambda hour: (
                    self.stdout.write(f"{buckets.hour_start(hour):%Y-%m-%d %H}:00 recounted")
                    if options["verbosity"] > 1
                    else None
                )
            )
        else:
            left = hotstore.heal()
        if left:
            self.stdout.write(
                f"{len(left)} hours still in doubt (a writer was storing logs): read from the logs until the next run."
            )
        self.stdout.write("Counters recounted.")
