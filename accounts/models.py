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


class Scope(models.TextChoices):
    """What a key may do. `read`: status, lists, downloads, credits, usage; `generate`: submit,
    upgrades, extend, cancel, uploads; `manage`: keys, alerts, the callback URL."""

    READ = "read", "Read"
    GENERATE = "generate", "Generate"
    MANAGE = "manage", "Manage"


ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)


def all_scopes() -> list[str]:
    """Default scopes of a key (and of every key that existed before scopes): all of them."""
    return list(ALL_SCOPES)


class BudgetPeriod(models.TextChoices):
    """The period a key's credit budget applies to, in TIME_ZONE."""

    DAY = "day", "Day"
    WEEK = "week", "Week (from Monday)"
    MONTH = "month", "Month"
    LIFETIME = "lifetime", "Lifetime"


# The limit fields of a key: every change to one of them writes an ApiKeyChange row.
LIMIT_FIELDS: tuple[str, ...] = (
    "name",
    "expires_at",
    "scopes",
    "budget_credits",
    "budget_period",
    "allowed_models",
    "max_resolution",
    "max_seconds",
    "rate_limit_per_minute",
    "max_concurrent_jobs",
    "allowed_ips",
)


class ApiKey(models.Model):
    """An API key. Only a SHA-256 digest of the token is stored; the raw token is shown once.

    The token format and checksum live in `accounts.tokens`. Every limit is optional (empty or
    NULL = no limit beyond the account's). Model names and resolutions are product vocabulary
    (billing.catalog), validated by the service that sets them (generation.services.keys).
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
    scopes = models.JSONField(default=all_scopes, help_text="Any of read, generate, manage.")
    budget_credits = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="At most this many credits per budget period."
    )
    budget_period = models.CharField(
        max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTH
    )
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model tiers this key may use; empty = all."
    )
    max_resolution = models.CharField(max_length=16, blank=True)
    max_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Generation requests per minute (under the account's)."
    )
    max_concurrent_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs queued or running at once (under the account's)."
    )
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="Source addresses / CIDRs; empty = any."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=models.F("created_at")),
                name="apikey_revoked_after_created",
            ),
            models.CheckConstraint(
                condition=Q(budget_period__in=BudgetPeriod.values),
                name="apikey_budget_period_valid",
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

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or ())

    @property
    def may_issue_keys(self) -> bool:
        """Every scope and no spending limit (allowed addresses and expiry aside): only such a
        key may create or change keys, so that no key can mint one looser than itself."""
        return (
            set(self.scopes or ()) >= set(ALL_SCOPES)
            and self.budget_credits is None
            and not self.allowed_models
            and not self.max_resolution
            and self.max_seconds is None
            and self.rate_limit_per_minute is None
            and self.max_concurrent_jobs is None
        )

    @property
    def is_unrestricted(self) -> bool:
        """Every scope and no limit: the key can do whatever the account can (only such a key
        may open a dashboard session, which has no per-key limits)."""
        return self.may_issue_keys and not self.allowed_ips

    def limits(self) -> dict[str, Any]:
        """The key's limit fields as JSON-friendly values (the audit trail compares these)."""
        values: dict[str, Any] = {}
        for name in LIMIT_FIELDS:
            value = getattr(self, name)
            values[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return values


class ApiKeyChange(models.Model):
    """Audit trail: one row per changed limit of a key (who, when, old → new). Append-only."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_key_changes"
    )
    # How the change was made: "api" (the keys API), "dashboard", "admin", "system".
    via = models.CharField(max_length=16)
    field = models.CharField(max_length=32)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["api_key", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.field}: {self.old!r} → {self.new!r}"
