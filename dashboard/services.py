"""Write paths of the dashboard that span apps: signing up."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from billing.services import signup_grant


def user_signup(*, email: str, password: str) -> User:
    """Create a dashboard user with a password and give the signup credits, in one transaction.

    The email is stored lower-cased (the caller checks it is free; a concurrent signup with the
    same email fails on the unique constraint and nothing is written). The grant is
    `billing.services.signup_grant`, idempotent per user, so it is given exactly once.
    """
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password)
        signup_grant(user=user)
    return user
