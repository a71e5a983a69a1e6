from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from access import audit, tokens
from access.models import SCOPES, ApiToken, AuditEvent, parse_user_ids


class Command(BaseCommand):
    help = "API tokens: `create` (prints the key once), `list`, `revoke <prefix>`."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True)
        create = commands.add_parser("create", help="create a token and print its key (shown only this once)")
        create.add_argument("--user", required=True, help="the owner's username")
        create.add_argument("--name", required=True)
        create.add_argument("--scope", action="append", choices=SCOPES, help="repeat for both (default: both)")
        create.add_argument("--user-ids", default="", help="comma-separated subset of the owner's grant")
        create.add_argument("--expires-days", type=float, default=None, help="default: never expires")
        listing = commands.add_parser("list", help="list tokens (prefix, never the key)")
        listing.add_argument("--user", default=None)
        revoke = commands.add_parser("revoke", help="revoke the token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        getattr(self, f"handle_{subcommand}")(**options)

    def handle_create(
        self, user: str, name: str, scope: list[str] | None, user_ids: str, expires_days: float | None, **options: Any
    ) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user {user!r}.")
        try:
            subset = parse_user_ids(user_ids)
        except ValueError as exc:
            raise CommandError(f"--user-ids: {exc}") from None
        expires = timezone.now() + timedelta(days=expires_days) if expires_days is not None else None
        token, secret = tokens.create_token(owner, name, scope or SCOPES, subset, expires)
        audit.record(AuditEvent.Action.TOKEN_CREATED, params=tokens.describe(token))
        self.stdout.write(secret)

    def handle_list(self, user: str | None, **options: Any) -> None:
        listed = ApiToken.objects.select_related("user").order_by("user__username", "created")
        if user:
            listed = listed.filter(user__username=user)
        for token in listed:
            state = "revoked" if token.revoked else ("active" if token.active else "expired")
            self.stdout.write(
                f"{token.prefix}  {token.user.get_username()}  {token.name!r}  {','.join(token.scopes)}  "
                f"user_ids={token.user_ids or 'grant'}  expires={token.expires or 'never'}  "
                f"last_used={token.last_used or 'never'}  {state}"
            )

    def handle_revoke(self, prefix: str, **options: Any) -> None:
        matches = list(ApiToken.objects.select_related("user").filter(prefix=prefix))
        if len(matches) != 1:
            raise CommandError(f"{len(matches)} tokens have the prefix {prefix!r}; give one token's prefix.")
        if not tokens.revoke(matches[0]):
            raise CommandError(f"Token {prefix} was revoked already.")
        audit.record(AuditEvent.Action.TOKEN_REVOKED, params=tokens.describe(matches[0]))
        self.stdout.write(f"Revoked {prefix}.")
