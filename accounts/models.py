from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A customer account. The account is the user: jobs, keys and credits belong to it."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Jobs per day for the codefast facade; NULL means GENERATION_DAILY_LIMIT.
    daily_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs per day; empty means the default from settings."
    )
    # Signs callbacks (kie HMAC and Standard Webhooks). Retrievable, so stored as is; rotated
    # by the account. Empty until first needed.
    webhook_secret = models.CharField(max_length=100, blank=True)
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # Where account events (usage alerts) are POSTed, signed like job callbacks.
    account_callback_url = models.URLField(max_length=2048, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email


class ApiKey(models.Model):
    """An API key. Only a SHA-256 digest of the token is stored; the raw token is shown once.

    The token format and checksum live in `accounts.tokens`.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(
        max_length=16, db_index=True, help_text="First characters, for display."
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=models.F("created_at")),
                name="apikey_revoked_after_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…"

    def is_usable(self, *, now: Any = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now
