"""Request types for views that run only for a signed-in user or a valid API key.

django-stubs types `request.user` as `User | AnonymousUser`; behind `login_required` or an
API-key authentication class it is always our User. Annotate such views with these instead of
casting: `def keys(request: AuthenticatedHttpRequest) -> HttpResponse`. Nothing here exists at
run time beyond the two classes (the User import is for the type checker only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import ApiKey, User


class AuthenticatedHttpRequest(HttpRequest):
    """A Django request whose `user` is an authenticated accounts.User."""

    user: User


class AuthenticatedRequest(Request):
    """A DRF request whose `user` is the accounts.User an authentication class returned, and
    whose `auth` is the ApiKey it came with (None under session authentication)."""

    user: User
    auth: ApiKey | None
