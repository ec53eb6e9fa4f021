"""Staff view of jobs (filters, error details, ledger entries). Callback deliveries are in
the outbound admin (every attempt logged; staff can re-send)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from billing.selectors import transfers_for_job
from generation.admin.keys import ApiKeyAdmin
from generation.delivery import job_video_url
from generation.models import Job, Upload
from generation.selectors import operations
from generation.selectors.margin import upstream_margin_daily
from generation.services.storage import job_media_delete
from outbound.selectors import delivery_rates
from veosaas.celery import broker_queue_depths

__all__ = ["ApiKeyAdmin"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # Money first and a short id: at 1440 px every column fits (the full uuid is on the page).
    list_display = (
        "short_id",
        "user",
        "state",
        "credits_quoted",
        "credits_charged",
        "upstream_cost_usd",
        "kind",
        "facade",
        "provider",
        "model_tier",
        "resolution",
        "duration_seconds",
        "created_at",
        "completed_at",
    )
    list_filter = (
        "state",
        "provider",
        "facade",
        "kind",
        "model_tier",
        "resolution",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "id",
        "request_id",
        "user__email",
        "prompt",
        "error_message",
        "provider_operation",
    )
    actions = ("delete_result_files",)
    date_hierarchy = "created_at"

    class Media:
        css = {"all": ("admin-extra.css",)}

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Job) -> str:
        return str(obj.id)[:8]

    list_select_related = ("user",)
    raw_id_fields = ("user", "api_key", "parent")
    readonly_fields = ("ledger_entries", "video_link", "error_summary", "cancel_requested_at")

    def get_urls(self) -> list[URLPattern]:
        margin = path(
            "margin/",
            self.admin_site.admin_view(self.margin_view),
            name="generation_job_margin",
        )
        return [margin, *super().get_urls()]

    def margin_view(self, request: HttpRequest) -> HttpResponse:
        """Revenue, estimated upstream cost and margin per day (?days=N, default 30)."""
        try:
            days = max(1, min(366, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        today = timezone.localdate()
        rows = upstream_margin_daily(start=today - timedelta(days=days - 1), end=today)
        total = {
            "jobs": sum(r.jobs for r in rows),
            "credits": sum(r.credits_charged for r in rows),
            "revenue": sum((r.revenue_usd for r in rows), Decimal("0")),
            "cost": sum((r.upstream_cost_usd for r in rows), Decimal("0")),
            "margin": sum((r.margin_usd for r in rows), Decimal("0")),
        }
        context = {
            **self.admin_site.each_context(request),
            "rows": rows,
            "total": total,
            "days": days,
            "credit_value": settings.BILLING_CREDIT_VALUE_USD,
        }
        return TemplateResponse(request, "generation/admin/margin.html", context)

    fieldsets = (
        (
            None,
            {
                "fields": (
                    "user",
                    "api_key",
                    "request_id",
                    "facade",
                    "kind",
                    "parent",
                    "state",
                    "video_link",
                )
            },
        ),
        (
            "Storage",
            {
                "fields": (
                    "video_file",
                    "poster_file",
                    "media_bytes",
                    "video_deleted_at",
                    "poster_deleted_at",
                    "media_deleted_reason",
                )
            },
        ),
        (
            "Request",
            {
                "fields": (
                    "prompt",
                    "negative_prompt",
                    "mode",
                    "model_tier",
                    "aspect_ratio",
                    "resolution",
                    "duration_seconds",
                    "seed",
                    "image_refs",
                    "callback_url",
                    "raw_request",
                    "idempotency_key",
                )
            },
        ),
        (
            "Error",
            {
                "fields": (
                    "error_summary",
                    "failure_stage",
                    "error_code",
                    "error_message",
                    "error_details",
                )
            },
        ),
        (
            "Execution",
            {
                "fields": (
                    "provider",
                    "provider_operation",
                    "attempts",
                    "requeues",
                    "progress",
                    "eta_seconds",
                    "lease_expires_at",
                    "next_poll_at",
                    "cancel_requested_at",
                    "render_seconds",
                    "created_at",
                    "started_at",
                    "completed_at",
                )
            },
        ),
        ("Credits", {"fields": ("credits_quoted", "credits_charged", "ledger_entries")}),
        ("Upstream", {"fields": ("upstream_model", "upstream_seconds", "upstream_cost_usd")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Jobs change only through the pipeline's guarded transitions.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_media_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    @admin.action(
        description="Delete result files (media URLs answer 410)", permissions=["delete_media"]
    )
    def delete_result_files(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        removed = sum(job_media_delete(job_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Removed the files of {removed} job(s).", messages.SUCCESS)

    @admin.display(description="ledger entries")
    def ledger_entries(self, obj: Job) -> SafeString:
        rows = [
            (
                reverse("admin:billing_transfer_change", args=[t.pk]),
                t.created_at,
                t.kind,
                t.phase,
                t.amount,
                t.balance_after,
            )
            for t in transfers_for_job(job_id=obj.pk)
        ]
        if not rows:
            return format_html("<em>none</em>")
        return format_html(
            "<table><tr><th>when</th><th>kind</th><th>phase</th><th>credits</th>"
            "<th>available after</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                rows,
            ),
        )

    @admin.display(description="video")
    def video_link(self, obj: Job) -> SafeString:
        url = job_video_url(obj)
        return format_html('<a href="{}">{}</a>', url, url) if url else mark_safe("—")

    @admin.display(description="error")
    def error_summary(self, obj: Job) -> str:
        if not obj.error_message:
            return "—"
        return f"[{obj.error_code}] {obj.error_message} ({obj.failure_stage})"


def operations_view(request: HttpRequest) -> HttpResponse:
    """/admin/operations/: what an operator looks at first (staff only, via admin_view)."""
    now = timezone.now()
    since = now - timedelta(hours=1)
    health = operations.queue_health(now=now)
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "health": health,
        "oldest_age": int(health.oldest_queued_age_seconds(now)),
        "broker_queues": broker_queue_depths(),
        "stuck": operations.jobs_stuck(now=now),
        "providers": operations.provider_rates(since=since),
        "deliveries": delivery_rates(since=since),
        "failures": operations.jobs_failed_recent(limit=20),
        "storage": operations.storage_by_account(limit=20),
    }
    return TemplateResponse(request, "admin/operations.html", context)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "source", "mime_type", "width", "height", "size", "created_at")
    list_filter = ("source", "mime_type")
    search_fields = ("id", "user__email", "source_url")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
