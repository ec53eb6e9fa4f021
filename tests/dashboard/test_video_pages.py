"""Home, new video (live price = charged price), job page and its status JSON, history: through
the pages with Django's test client, against the real services and the local renderer."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Price, Transfer
from billing.selectors import balance_get
from generation.models import Job, Upload
from generation.services import JobSpec, job_run, job_submit
from outbound.models import Attempt, Delivery
from tests.dashboard.conftest import make_user
from tests.generation.conftest import image_bytes

pytestmark = pytest.mark.django_db

NEW = reverse("dashboard:new")
PRICE = reverse("dashboard:price")


def video_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "prompt": "A lighthouse at dusk",
        "mode": "text",
        "model_tier": "fast",
        "aspect_ratio": "16:9",
        "duration_seconds": "4",
        "resolution": "720p",
        "seed": "",
        "form_token": uuid.uuid4().hex,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def png(name: str = "frame.png", color: tuple[int, int, int] = (200, 60, 30)) -> Any:
    return SimpleUploadedFile(name, image_bytes("PNG", (320, 180), color), "image/png")


def price_of(client: Client, **params: Any) -> dict[str, Any]:
    fields = video_form(**params)
    query = {
        k: fields[k]
        for k in ("mode", "model_tier", "aspect_ratio", "duration_seconds", "resolution")
    }
    response = client.get(PRICE, query)
    return {"status": response.status_code, **response.json()}


def submit(client: Client, **fields: Any) -> Job:
    response = client.post(NEW, video_form(**fields))
    assert response.status_code == 302, response.content.decode()[:2000]
    job_id = re.search(r"/dashboard/jobs/([0-9a-f-]{36})/", response["Location"]).group(1)
    return Job.objects.get(pk=job_id)


# ---------------------------------------------------------------------------------------------
# Home
# ---------------------------------------------------------------------------------------------


def card(page: str, name: str) -> str:
    return re.search(rf'id="card-{name}"><div class="value">([^<]*)<', page).group(1)


def test_home_shows_the_codefast_cards(browser: Client, member, finish_with_tiny_video) -> None:
    member.daily_limit = 5
    member.save()
    job = submit(browser)
    page = browser.get(reverse("dashboard:home")).content.decode()
    assert card(page, "available") == str(1000 - job.credits_quoted)
    assert card(page, "held") == str(job.credits_quoted)
    assert card(page, "daily-limit") == "5"
    assert card(page, "remaining") == "4"
    assert card(page, "videos") == "0"  # finished videos
    finish_with_tiny_video(job)
    page = browser.get(reverse("dashboard:home")).content.decode()
    assert card(page, "held") == "0" and card(page, "videos") == "1"
    assert reverse("dashboard:job", args=[job.id]) in page


# ---------------------------------------------------------------------------------------------
# Price before submit = price charged
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "images"),
    [
        ({"model_tier": "fast", "resolution": "720p", "duration_seconds": "4"}, 0),
        ({"model_tier": "lite", "resolution": "720p", "duration_seconds": "6"}, 0),
        ({"model_tier": "quality", "resolution": "1080p", "duration_seconds": "8"}, 0),
        (
            {
                "model_tier": "fast",
                "resolution": "4k",
                "duration_seconds": "8",
                "aspect_ratio": "9:16",
            },
            0,
        ),
        (
            {
                "mode": "image",
                "model_tier": "fast",
                "resolution": "720p",
                "duration_seconds": "6",
                "aspect_ratio": "auto",
            },
            1,
        ),
        (
            {
                "mode": "first_last",
                "model_tier": "quality",
                "resolution": "720p",
                "duration_seconds": "4",
            },
            2,
        ),
    ],
)
def test_price_shown_before_submit_is_the_price_charged(
    browser: Client, member, fields, images, finish_with_tiny_video
) -> None:
    quoted = price_of(browser, **fields)
    assert quoted["status"] == 200 and quoted["error"] == ""
    assert quoted["credits"] > 0 and quoted["available"] == 1000 and quoted["affordable"]
    files = {"image": png(), "last_image": png("last.png", (20, 20, 220))}
    job = submit(browser, **fields, **dict(list(files.items())[:images]))
    hold = Transfer.objects.get(job_id=job.id, kind=Transfer.Kind.HOLD)
    assert job.facade == Job.Facade.DASHBOARD
    assert job.credits_quoted == hold.amount == quoted["credits"]
    assert balance_get(user=member).available == 1000 - quoted["credits"]
    assert len(job.image_refs) == images
    if images:
        finish_with_tiny_video(job)
        capture = Transfer.objects.get(job_id=job.id, kind=Transfer.Kind.CAPTURE)
        assert capture.amount == quoted["credits"]


def test_price_follows_the_staff_price_table(browser: Client, member) -> None:
    Price.objects.create(
        operation="generate",
        model_tier="fast",
        resolution="720p",
        flat_credits=3,
        credits_per_second=7,
    )
    assert price_of(browser)["credits"] == 3 + 7 * 4
    assert submit(browser).credits_quoted == 31


def test_price_endpoint_explains_combinations_that_cannot_be_made(browser: Client) -> None:
    quoted = price_of(browser, resolution="1080p", duration_seconds="4")
    assert quoted["credits"] is None and "8 seconds" in quoted["error"]
    assert quoted["field"] == "duration_seconds"
    no_4k = price_of(browser, model_tier="lite", resolution="4k", duration_seconds="8")
    assert no_4k["credits"] is None and "4k" in no_4k["error"]
    bad = browser.get(PRICE, {"mode": "text", "model_tier": "ultra"})
    assert bad.status_code == 400 and bad.json()["credits"] is None


def test_price_endpoint_says_when_credits_are_short(db) -> None:
    client = Client()
    client.force_login(make_user(credits=10))
    quoted = price_of(client)
    assert quoted["credits"] > 10 and quoted["available"] == 10 and not quoted["affordable"]


def test_price_endpoint_needs_a_session(client: Client, db) -> None:
    response = client.get(PRICE, {"mode": "text"})
    assert response.status_code == 401 and "detail" in response.json()


# ---------------------------------------------------------------------------------------------
# Submitting: uploads, and clear refusals
# ---------------------------------------------------------------------------------------------


def test_first_and_last_frame_uploads_are_stored_for_the_user(browser: Client, member) -> None:
    job = submit(browser, mode="first_last", image=png(), last_image=png("b.png", (0, 0, 255)))
    uploads = [Upload.objects.get(pk=ref["upload"]) for ref in job.image_refs]
    assert [u.user_id for u in uploads] == [member.pk, member.pk]
    assert job.mode == "first_last" and job.raw_request["images"][0]["sha256"]
    page = browser.get(reverse("dashboard:job", args=[job.id])).content.decode()
    for upload in uploads:
        assert f"/media/u/{upload.id}.png" in page


def test_text_mode_ignores_files_picked_before_switching(browser: Client) -> None:
    job = submit(browser, mode="text", image=png())
    assert job.image_refs == [] and not Upload.objects.exists()


def test_image_mode_without_an_image_explains_and_makes_nothing(browser: Client) -> None:
    response = browser.post(NEW, video_form(mode="image"))
    assert response.status_code == 400
    assert "Choose an image." in response.content.decode()
    assert not Job.objects.exists()


def test_a_file_that_is_not_an_image_is_refused_on_its_field(browser: Client) -> None:
    fake = SimpleUploadedFile("x.png", b"%PDF-1.4 not an image", "image/png")
    response = browser.post(NEW, video_form(mode="image", image=fake))
    assert response.status_code == 400
    assert "This image cannot be used" in response.content.decode()
    assert not Job.objects.exists()


def test_insufficient_credits_are_explained_and_nothing_is_held(db) -> None:
    user = make_user(credits=10)
    client = Client()
    client.force_login(user)
    response = client.post(NEW, video_form())
    page = response.content.decode()
    assert response.status_code == 400
    assert "This video costs 32 credits but you have 10 available" in page
    assert not Job.objects.exists() and balance_get(user=user).held == 0


def test_constraint_errors_land_on_their_field(browser: Client) -> None:
    response = browser.post(NEW, video_form(resolution="1080p", duration_seconds="4"))
    assert response.status_code == 400
    assert "must be 8 seconds for 1080p videos" in response.content.decode()
    assert not Job.objects.exists()


def test_daily_limit_is_enforced_with_a_clear_message(browser: Client, member) -> None:
    member.daily_limit = 1
    member.save()
    submit(browser)
    response = browser.post(NEW, video_form())
    assert response.status_code == 400
    assert "daily limit of 1 videos" in response.content.decode()
    assert Job.objects.count() == 1


def test_concurrency_limit_is_explained(browser: Client, settings) -> None:
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    submit(browser)
    response = browser.post(NEW, video_form())
    assert "1 videos queued or rendering" in response.content.decode()


def test_a_double_submit_of_one_form_makes_one_job(browser: Client, member) -> None:
    fields = video_form(mode="image")
    first = browser.post(NEW, {**fields, "image": png()})
    second = browser.post(NEW, {**fields, "image": png()})
    assert first.status_code == 302 and first["Location"] == second["Location"]
    assert Job.objects.count() == 1 and Upload.objects.count() == 1
    assert Transfer.objects.filter(kind=Transfer.Kind.HOLD).count() == 1


def test_a_reused_form_with_other_values_asks_to_submit_again(browser: Client) -> None:
    fields = video_form()
    browser.post(NEW, fields)
    response = browser.post(NEW, {**fields, "prompt": "Something else"})
    page = response.content.decode()
    assert response.status_code == 400 and "already used for another video" in page
    fresh = re.search(r'name="form_token" value="([0-9a-f]{32})"', page).group(1)
    assert fresh != fields["form_token"]
    assert submit(browser, prompt="Something else", form_token=fresh).prompt == "Something else"
    assert Job.objects.count() == 2


def test_new_video_form_refuses_a_post_without_csrf_token(csrf_browser: Client) -> None:
    assert csrf_browser.post(NEW, video_form()).status_code == 403
    assert not Job.objects.exists()


# ---------------------------------------------------------------------------------------------
# Job page and its live status
# ---------------------------------------------------------------------------------------------


def test_status_json_while_queued_then_done(
    browser: Client, member, stranger, finish_with_tiny_video
) -> None:
    job_submit(user=stranger, spec=JobSpec(facade="codefast", prompt="ahead", duration_seconds=4))
    job = submit(browser)
    url = reverse("dashboard:job-status", args=[job.id])
    queued = browser.get(url).json()
    assert queued["state"] == "queued" and queued["state_label"] == "Queued"
    assert (queued["queue_position"], queued["total_in_queue"]) == (2, 2)
    assert queued["progress"] == 0 and queued["eta_seconds"] > 0 and not queued["terminal"]
    assert queued["video_url"] is None
    finish_with_tiny_video(job)
    done = browser.get(url).json()
    assert done["state"] == "succeeded" and done["terminal"] and done["progress"] == 100
    assert done["video_url"] == f"http://testserver/media/v/{job.id}.mp4"
    assert done["poster_url"] == f"http://testserver/media/v/{job.id}.jpg"
    assert done["queue_position"] == 0 and done["error"] == ""
    assert browser.get(url).headers["Cache-Control"].startswith("max-age=0")


def test_job_page_shows_player_parameters_and_ledger_entries(
    browser: Client, member, finish_with_tiny_video
) -> None:
    job = submit(browser, seed="1234")
    finish_with_tiny_video(job)
    page = browser.get(reverse("dashboard:job", args=[job.id])).content.decode()
    assert f'src="http://testserver/media/v/{job.id}.mp4"' in page
    assert f'poster="http://testserver/media/v/{job.id}.jpg"' in page
    assert f'download="veosaas-{job.id}.mp4"' in page
    assert "A lighthouse at dusk" in page and "1234" in page
    ledger = page[page.index('id="ledger"') : page.index('id="callbacks"')]
    assert ledger.count('data-kind="hold"') == 1 and ledger.count('data-kind="capture"') == 1
    assert f">-{job.credits_quoted}<" in ledger  # the hold takes the price from available


def test_failed_job_page_shows_the_error_and_the_release(browser: Client, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "scripted"}
    settings.GENERATION_TEST_OUTCOME = "fail"
    job = submit(browser)
    job_run(job_id=str(job.id))
    status = browser.get(reverse("dashboard:job-status", args=[job.id])).json()
    assert status["state"] == "failed" and "Scripted failure" in status["error"]
    page = browser.get(reverse("dashboard:job", args=[job.id])).content.decode()
    assert "Scripted failure" in page and 'data-kind="release"' in page
    assert f">+{job.credits_quoted}<" in page


def test_job_page_lists_callback_attempts(browser: Client, member) -> None:
    job = submit(browser)
    delivery = Delivery.objects.create(
        topic=Delivery.Topic.JOB_CALLBACK,
        user=job.user,
        reference=job.pk.hex,
        destination="https://hooks.example.com/veo",
        webhook_id="msg_1",
        signing_id=job.task_id,
        payload={},
        body="{}",
        status=Delivery.Status.PENDING,
        attempts=1,
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        outcome="failed",
        sent_at=timezone.now(),
        status_code=503,
        latency_ms=87,
        error="HTTP 503",
    )
    page = browser.get(reverse("dashboard:job", args=[job.id])).content.decode()
    section = page[page.index('id="callbacks"') :]
    assert "https://hooks.example.com/veo" in section and "503" in section
    assert "HTTP 503" in section and "87" in section


def test_another_users_job_is_not_found_on_every_page(browser: Client, stranger) -> None:
    theirs = job_submit(
        user=stranger, spec=JobSpec(facade="codefast", prompt="private", duration_seconds=4)
    ).job
    assert browser.get(reverse("dashboard:job", args=[theirs.id])).status_code == 404
    status = browser.get(reverse("dashboard:job-status", args=[theirs.id]))
    assert status.status_code == 404 and "private" not in status.content.decode()
    history = browser.get(reverse("dashboard:history")).content.decode()
    assert str(theirs.id) not in history and "private" not in history
    home = browser.get(reverse("dashboard:home")).content.decode()
    assert str(theirs.id) not in home


def test_status_json_needs_a_session(client: Client, member) -> None:
    job = job_submit(
        user=member, spec=JobSpec(facade="dashboard", prompt="x", duration_seconds=4)
    ).job
    assert client.get(reverse("dashboard:job-status", args=[job.id])).status_code == 401
    assert client.get(reverse("dashboard:job", args=[job.id])).status_code == 302


# ---------------------------------------------------------------------------------------------
# History: paginated grid with filters
# ---------------------------------------------------------------------------------------------


def make_jobs(
    user: Any, count: int, *, state: str = "queued", days_ago: int = 0, prompt: str = "job"
) -> list[Job]:
    created = timezone.now() - timedelta(days=days_ago)
    return [
        Job.objects.create(
            user=user,
            facade="dashboard",
            prompt=f"{prompt} {i}",
            state=state,
            duration_seconds=4,
            created_at=created - timedelta(seconds=i),
            video_file="videos/x.mp4" if state == "succeeded" else "",
            poster_file="videos/x.jpg" if state == "succeeded" else "",
        )
        for i in range(count)
    ]


def grid_ids(page: str) -> list[str]:
    return re.findall(r'class="cover" href="/dashboard/jobs/([0-9a-f-]{36})/"', page)


def test_history_is_paginated_newest_first(browser: Client, member, settings) -> None:
    settings.DASHBOARD_PAGE_SIZE = 12
    jobs = make_jobs(member, 15)
    first = browser.get(reverse("dashboard:history")).content.decode()
    assert grid_ids(first) == [str(j.id) for j in jobs[:12]]
    assert "Page 1 of 2" in first and "15 videos" in first
    second = browser.get(reverse("dashboard:history"), {"page": 2}).content.decode()
    assert grid_ids(second) == [str(j.id) for j in jobs[12:]]
    beyond = browser.get(reverse("dashboard:history"), {"page": 99}).content.decode()
    assert grid_ids(beyond) == grid_ids(second)


def test_history_filters_by_state_and_date_range_and_keeps_them_across_pages(
    browser: Client, member, settings
) -> None:
    settings.DASHBOARD_PAGE_SIZE = 2
    done = make_jobs(member, 3, state="succeeded", prompt="done")
    make_jobs(member, 2, state="failed", prompt="broken")
    old = make_jobs(member, 1, state="succeeded", days_ago=10, prompt="old")
    page = browser.get(reverse("dashboard:history"), {"state": "succeeded"}).content.decode()
    assert "4 videos" in page and "state=succeeded&amp;page=2" in page
    today = timezone.localdate()
    recent = browser.get(
        reverse("dashboard:history"),
        {
            "state": "succeeded",
            "created_from": (today - timedelta(days=1)).isoformat(),
            "created_to": today.isoformat(),
            "page": 2,
        },
    ).content.decode()
    assert "3 videos" in recent and grid_ids(recent) == [str(done[2].id)]
    older = browser.get(
        reverse("dashboard:history"), {"created_to": (today - timedelta(days=5)).isoformat()}
    ).content.decode()
    assert grid_ids(older) == [str(old[0].id)]
    assert '<img src="http://testserver/media/v/' in older  # posters in the grid


def test_history_refuses_a_reversed_date_range_without_failing(browser: Client) -> None:
    today = timezone.localdate()
    response = browser.get(
        reverse("dashboard:history"),
        {"created_from": today.isoformat(), "created_to": (today - timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


def test_history_query_count_does_not_grow_with_the_page(
    browser: Client, member, django_assert_max_num_queries
) -> None:
    make_jobs(member, 3, state="succeeded")
    with django_assert_max_num_queries(6) as small:
        browser.get(reverse("dashboard:history"))
    make_jobs(member, 20, state="succeeded")
    with django_assert_max_num_queries(len(small.captured_queries)):
        browser.get(reverse("dashboard:history"))
