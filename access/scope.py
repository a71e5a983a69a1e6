"""Which log user_ids a caller may read or write: one answer for every front door.

`read_scope(request)` / `write_scope(request)`: the union of the user's own grant and their
groups' grants (superusers: every user_id); a token narrows that to its own user_id subset, and
a token without the scope (`logs:read`, `logs:write`) has none. Anonymous callers have none.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest

from access.models import READ, WRITE, ApiToken, Grant


@dataclass(frozen=True)
class Scope:
    user_ids: frozenset[int] | None  # None: every user_id

    @property
    def everything(self) -> bool:
        return self.user_ids is None

    def allows(self, user_id: int) -> bool:
        return self.user_ids is None or user_id in self.user_ids

    def outside(self, user_ids: Iterable[int]) -> list[int]:
        """Those of `user_ids` this scope does not cover, sorted."""
        return sorted({u for u in user_ids if not self.allows(u)})

    def narrowed(self, subset: frozenset[int] | None) -> "Scope":
        if subset is None:
            return self
        return Scope(subset if self.user_ids is None else self.user_ids & subset)


EVERY = Scope(None)
NOTHING = Scope(frozenset())


class OutsideScope(PermissionDenied):
    """A query names user_ids the caller may not read: a 403. DRF answers `errors` as the body
    ({"user_id": [...]}); Django's 403 page (templates/403.html) shows the message."""

    def __init__(self, user_ids: list[int], field: str = "user_id"):
        shown = ", ".join(str(u) for u in user_ids[:20]) + (" …" if len(user_ids) > 20 else "")
        self.user_ids = user_ids
        self.message = f"Not granted to you: {field} {shown}."
        self.errors = {field: [self.message]}
        super().__init__(self.errors)

    def __str__(self) -> str:
        return self.message


def user_scope(user: User | AnonymousUser, scope: str) -> Scope:
    """What `user` may do for `scope` (READ or WRITE) through their own and their groups' grants."""
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return EVERY
    ids: set[int] = set()
    for grant in Grant.objects.filter(Q(user=user) | Q(group__user=user)):
        granted = grant.user_ids(scope)
        if granted is None:
            return EVERY
        ids |= granted
    return Scope(frozenset(ids))


def request_scope(request: HttpRequest | Any, scope: str) -> Scope:
    """The scope of a Django or DRF request: its user's grant, narrowed by the token it came with (if any)."""
    found = user_scope(request.user, scope)
    token = getattr(request, "auth", None)  # DRF's request: the ApiToken that authenticated it
    if isinstance(token, ApiToken):
        if scope not in token.scopes:
            return NOTHING
        found = found.narrowed(token.subset())
    return found


def read_scope(request: HttpRequest | Any) -> Scope:
    return request_scope(request, READ)


def write_scope(request: HttpRequest | Any) -> Scope:
    return request_scope(request, WRITE)
