"""Every timestamp on the dashboard and the admin pages is shown in the reader's display zone
with the zone's name beside it (`|zoned`), not only in the footer."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from accounts.services import api_key_create
from generation.models import Job
from tests.factories import UserFactory
from veosaas.middleware import DISPLAY_TIME_ZONE_COOKIE

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)


def test_the_filter_renders_the_time_in_the_active_zone_with_its_name() -> None:
    template = Template('{% load zoned %}{{ at|zoned:"Y-m-d H:i" }}|{{ none|zoned|default:"-" }}')
    with timezone.override("Asia/Tokyo"):
        html = template.render(Context({"at": AT, "none": None}))
    assert html == (
        '<time datetime="2026-03-01T21:30:00+00:00">2026-03-02 06:30 '
        '<span class="tz">Asia/Tokyo</span></time>|-'
    )


TIMES = re.compile(r"<time datetime=\"[^\"]+\">[^<]*<span class=\"tz\">([^<]+)</span></time>")


def test_dashboard_times_carry_the_display_zone(browser: Client, member) -> None:  # type: ignore[no-untyped-def]
    job = Job.objects.create(user=member, prompt="x", state="failed", completed_at=AT)
    Job.objects.filter(pk=job.pk).update(created_at=AT, started_at=AT)
    api_key_create(user=member, name="ci")
    browser.cookies[DISPLAY_TIME_ZONE_COOKIE] = "America/New_York"
    for url in (
        "/dashboard/",
        "/dashboard/jobs/",
        f"/dashboard/jobs/{job.pk}/",
        "/dashboard/credits/",
        "/accounts/keys/",
    ):
        page = browser.get(url).content.decode()
        zones = TIMES.findall(page)
        assert zones and set(zones) == {"America/New_York"}, url
    job_page = browser.get(f"/dashboard/jobs/{job.pk}/").content.decode()
    assert "1 March 2026" in job_page or "March 1, 2026" in job_page
    assert "4:30" in job_page  # 21:30 UTC is 16:30 in New York


def test_admin_times_carry_the_zone_and_the_summary_names_its_days(settings) -> None:  # type: ignore[no-untyped-def]
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    failed = Job.objects.create(user=UserFactory(), prompt="x", state="failed", completed_at=AT)
    Job.objects.filter(pk=failed.pk).update(error_code=500)
    page = staff.get("/admin/operations/").content.decode()
    assert TIMES.findall(page) and set(TIMES.findall(page)) == {settings.TIME_ZONE}
    summary = staff.get("/admin/billing/topup/summary/").content.decode()
    assert f"<th>Day ({settings.TIME_ZONE})</th>" in summary
