"""Everything sent to a customer: one `Delivery` per message and destination, one `Attempt`
per try.

A delivery's body and `webhook_id` are fixed when it is created, so every attempt (automatic
retry or staff re-send) carries the same bytes and the same Standard Webhooks id; only the
timestamp and the signatures change per attempt. What a delivery is about is named by its
`topic` and `reference` (a job's uuid hex, an alert's id): outbound knows no model above it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Delivery(models.Model):
    """One message to one destination (a webhook URL or an email address), with its state."""

    class Topic(models.TextChoices):
        JOB_CALLBACK = "job_callback", _("Job callback")
        USAGE_ALERT = "usage_alert", _("Usage alert")

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        EMAIL = "email", _("Email")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        BLOCKED = "blocked", _("Blocked (destination not allowed)")

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=16, choices=Topic.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WEBHOOK)
    # The account whose secret signs the message (and whose history lists it).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries"
    )
    reference = models.CharField(
        max_length=64,
        blank=True,
        help_text="What the message is about: the job's uuid (hex), the alert's id.",
    )
    destination = models.CharField(max_length=2048, help_text="URL, or email address.")
    webhook_id = models.CharField(
        max_length=64,
        help_text="Standard Webhooks `webhook-id` (the event id), the same on every attempt.",
    )
    signing_id = models.CharField(
        max_length=64, help_text="What kie's X-Webhook-Signature signs (taskId or event id)."
    )
    email_subject = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(
        max_length=64, blank=True, help_text="Request id of what caused the message."
    )
    payload = models.JSONField(help_text="The body as JSON.")
    body = models.TextField(help_text="The exact bytes sent (UTF-8).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Automatic attempts made (the retry schedule counts these)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # A job's callback is sent once per URL (scheduling twice makes one delivery).
            models.UniqueConstraint(
                fields=["reference", "destination"],
                condition=Q(topic="job_callback"),
                name="delivery_one_callback_per_job_url",
            ),
            # An event goes out once per channel; receivers deduplicate on the webhook-id.
            models.UniqueConstraint(
                fields=["webhook_id", "channel"], name="delivery_one_per_event_channel"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed", "blocked"]),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(topic__in=["job_callback", "usage_alert"]),
                name="delivery_topic_valid",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["webhook", "email"]), name="delivery_channel_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="delivery_delivered_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["topic", "reference"], name="delivery_reference_idx"),
            models.Index(fields=["user", "topic", "-created_at"], name="delivery_user_idx"),
        ]
        permissions = [("resend_delivery", "Can re-send deliveries")]

    def __str__(self) -> str:
        return f"{self.webhook_id} → {self.destination} ({self.status})"

    @property
    def url(self) -> str:
        """The destination of a webhook (the name job pages and callbacks have always used)."""
        return self.destination


class Attempt(models.Model):
    """One try of a delivery (or one refused before sending), kept for the delivery log."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered (2xx)"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked"

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField(help_text="1 for the first attempt, and so on.")
    manual = models.BooleanField(default=False, help_text="Re-sent by staff.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    sent_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    blocked_reason = models.TextField(blank=True)
    request_headers = models.JSONField(
        default=dict, blank=True, help_text="The signing headers sent."
    )
    request_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Request id of what caused the message (the job's submit, for callbacks).",
    )

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="delivery_attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"
