"""One business time zone (TIME_ZONE) for every day boundary; a display zone per visitor."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.selectors import credits_used_by_day, finance_daily_summary
from billing.services import credits_capture, credits_hold
from generation.models import Job
from generation.selectors import daily_usage
from veosaas.middleware import DISPLAY_TIME_ZONE_COOKIE

pytestmark = pytest.mark.django_db

# 22:30 UTC on 9 March is 01:30 on 10 March in Istanbul (UTC+3), the default business zone.
LATE_EVENING_UTC = datetime(2025, 3, 9, 22, 30, tzinfo=UTC)
NEXT_NOON_UTC = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _charge(user: User, amount: int) -> Job:
    job = Job.objects.create(
        user=user,
        facade="codefast",
        prompt="A lighthouse",
        state=Job.State.SUCCEEDED,
        completed_at=LATE_EVENING_UTC,
        video_file="v.mp4",
    )
    hold = credits_hold(
        user=user, amount=amount, idempotency_key=f"job:{job.id}:hold:{uuid.uuid4()}", job_id=job.id
    )
    credits_capture(hold=hold, reason="job succeeded")
    return job


def test_the_business_zone_is_one_setting_with_istanbul_as_default() -> None:
    assert django_settings.TIME_ZONE == "Europe/Istanbul"
    assert django_settings.CODEFAST_TIME_ZONE == django_settings.TIME_ZONE
    assert not hasattr(django_settings, "GENERATION_DAILY_LIMIT_TIME_ZONE")


def test_a_late_evening_charge_lands_on_the_same_day_everywhere(
    browser: Client, member: User
) -> None:
    """Chart, admin summary, usage API and the daily limit agree, whatever the display zone."""
    with time_machine.travel(LATE_EVENING_UTC, tick=False):
        _charge(member, 64)
    browser.cookies[DISPLAY_TIME_ZONE_COOKIE] = "America/New_York"  # still 9 March there
    with time_machine.travel(NEXT_NOON_UTC, tick=False):
        business_day = date(2025, 3, 10)
        assert credits_used_by_day(user=member, days=2) == [
            (date(2025, 3, 9), 0),
            (business_day, 64),
        ]
        summary = finance_daily_summary(days=2)
        assert [(d.day, d.credits_used) for d in summary] == [
            (date(2025, 3, 9), 0),
            (business_day, 64),
        ]
        assert daily_usage(user=member).used == 1
        page = browser.get(reverse("dashboard:credits"))
        bars = page.context["chart"]["bars"]
        assert (bars[-1]["day"], bars[-1]["used"]) == (business_day, 64)
        # The page names both zones: times shown in the visitor's, days in the business one.
        html = page.content.decode()
        assert 'value="America/New_York" selected' in html
        assert "Europe/Istanbul" in html


def test_a_visitor_picks_the_display_zone_and_goes_back(client: Client) -> None:
    response = client.post(
        reverse("dashboard:time-zone"), {"time_zone": "Asia/Tokyo", "next": "/docs/"}
    )
    assert response.status_code == 302 and response["Location"] == "/docs/"
    assert response.cookies[DISPLAY_TIME_ZONE_COOKIE].value == "Asia/Tokyo"
    page = client.get("/docs/").content.decode()
    assert 'value="Asia/Tokyo" selected' in page


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "../../etc/passwd", "x" * 100])
def test_an_invalid_display_zone_is_ignored(client: Client, zone: str) -> None:
    response = client.post(
        reverse("dashboard:time-zone"), {"time_zone": zone, "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert DISPLAY_TIME_ZONE_COOKIE not in response.cookies
    client.cookies[DISPLAY_TIME_ZONE_COOKIE] = zone
    page = client.get("/docs/").content.decode()
    assert 'value="Europe/Istanbul" selected' in page


def test_every_page_names_the_zone_its_times_are_shown_in(browser: Client) -> None:
    for name in ("dashboard:home", "dashboard:history", "dashboard:credits", "dashboard:alerts"):
        page = browser.get(reverse(name)).content.decode()
        assert 'id="time-zone-select"' in page, name
        assert "Days start at midnight Europe/Istanbul" in page, name
