"""Users with grants and their tokens, for tests of any front door."""

from collections.abc import Iterable

from django.contrib.auth.models import User

from access import tokens
from access.models import SCOPES, Grant, format_user_ids


def user_granted(
    username: str,
    read: Iterable[int] | None = None,
    write: Iterable[int] | None = None,
    password: str = "pw-for-tests",
    **fields: object,
) -> User:
    """A new user whose own grant reads `read` and writes `write` (None: every user_id)."""
    user = User.objects.create_user(username, password=password, **fields)
    Grant.objects.create(
        user=user,
        read_all=read is None,
        read_user_ids=format_user_ids(set(read or ())),
        write_all=write is None,
        write_user_ids=format_user_ids(set(write or ())),
    )
    return user


def token_of(user: User, scopes: Iterable[str] = SCOPES, user_ids: Iterable[int] = (), **fields: object) -> str:
    """The secret of a new token of `user`."""
    return tokens.create_token(user, "test", scopes, user_ids, **fields)[1]  # type: ignore[arg-type]
