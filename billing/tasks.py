"""Periodic billing maintenance. Thin: each task calls one service."""

from __future__ import annotations

from celery import shared_task

from billing.services import holds_expire_stale


@shared_task
def holds_expire_stale_task() -> int:
    """Release holds past their TTL (a backstop; job failures release their own holds)."""
    return holds_expire_stale()
