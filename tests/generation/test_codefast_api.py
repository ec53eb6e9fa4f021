"""codefast facade (contracts/codefast.md): wire shapes, daily limits, queue positions,
history, base64 images, CORS, and nothing written on bad input."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_revoke
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job, Upload
from generation.selectors import job_queue_place, queue_snapshot_forget
from generation.services import job_fail
from generation.snapshots import job_snapshot_publish
from tests.conftest import run_in_threads
from tests.factories import UserFactory
from tests.generation.conftest import enqueued, image_bytes

pytestmark = pytest.mark.django_db

STATUS_KEYS = [
    "job_id",
    "status",
    "queue_position",
    "total_in_queue",
    "aspect_ratio",
    "duration_seconds",
    "has_image",
    "video_url",
    "error",
    "created_at",
    "started_at",
    "completed_at",
    "daily_limit",
    "daily_limit_remaining",
]
CREATE_KEYS = [
    "job_id",
    "status",
    "queue_position",
    "total_in_queue",
    "aspect_ratio",
    "duration_seconds",
    "has_image",
    "daily_limit",
    "daily_limit_remaining",
]
STAMP = re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(autouse=True)
def _fresh_queue_snapshot() -> None:
    # The queue snapshot lives in the shared cache; rows of earlier tests are rolled back.
    queue_snapshot_forget()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(user=user, name="cf").token)
    client.user = user
    return client


def funded(credits: int = 1000):
    user = UserFactory()
    credits_grant(user=user, amount=credits, idempotency_key=f"seed:{user.pk}")
    return user


@pytest.fixture
def xkey(funded_user) -> APIClient:
    return client_for(funded_user)


def generate(client, body=None, **extra):
    return client.post(
        "/generate", body if body is not None else {"prompt": "A red fox"}, format="json", **extra
    )


def price(seconds: int = 8) -> int:
    return price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=seconds
    ).credits


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_nothing_written(user) -> None:
    assert not Job.objects.exists()
    assert not Upload.objects.exists()
    assert not Transfer.objects.filter(kind="hold").exists()
    assert balance_get(user=user).available == 1000


# --- GET / ---------------------------------------------------------------------------------


def test_root_with_a_valid_key_answers_the_running_message(xkey) -> None:
    response = xkey.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Veo 3 Fast Video Generator API running"}
    assert "X-API-Key" in response["Vary"]


def test_root_sends_browsers_without_a_key_to_the_dashboard(client) -> None:
    response = client.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert "Accept" in response["Vary"]


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_root_without_a_key_for_api_clients_is_401(client, accept) -> None:
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/", **headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


def test_root_with_a_wrong_key_is_401_even_for_a_browser(client) -> None:
    response = client.get("/", HTTP_X_API_KEY="vsk_nope", HTTP_ACCEPT="text/html")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


def test_root_routes_do_not_shadow_other_paths(client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 302  # to the admin login
    assert client.get("/api/no-such-endpoint").json()["code"] == 1000  # veo3o1's JSON 404


# --- authentication ------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/"),
    ("post", "/generate"),
    ("get", "/status/2949a83f-ac0c-46a3-a3a2-aad86d2d577d"),
    ("get", "/videos"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("key", [None, "", "vsk_not_a_key", "revoked"])
def test_missing_or_invalid_key_is_401(api_key, method, path, key) -> None:
    client = APIClient()
    if key == "revoked":
        api_key_revoke(api_key=api_key.api_key)
        key = api_key.token
    if key is not None:
        client.credentials(HTTP_X_API_KEY=key)
    response = getattr(client, method)(
        path, {"prompt": "x"} if method == "post" else None, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert not Job.objects.exists()


# --- POST /generate ------------------------------------------------------------------------


def test_generate_queues_a_job_and_holds_credits(xkey, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = generate(xkey, {"prompt": "A beautiful sunset over mountains"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == CREATE_KEYS
    assert UUID4.match(body["job_id"])
    assert body == {
        "job_id": body["job_id"],
        "status": "queued",
        "queue_position": 1,
        "total_in_queue": 1,
        "aspect_ratio": "16:9",
        "duration_seconds": 8,
        "has_image": False,
        "daily_limit": 20,
        "daily_limit_remaining": 19,
    }
    job = Job.objects.get(pk=body["job_id"])
    assert (job.facade, job.mode, job.model_tier, job.resolution) == (
        "codefast",
        "text",
        "fast",
        "720p",
    )
    assert job.raw_request == {
        "prompt": "A beautiful sunset over mountains",
        "aspect_ratio": "16:9",
        "duration_seconds": 8,
    }
    assert balance_get(user=xkey.user).held == price(8)
    assert len(enqueued(callbacks)) == 1  # enqueued once, after commit


@pytest.mark.parametrize(
    ("ratio", "duration"), [("9:16", 6), ("16:9", 4), ("9:16", "6"), ("16:9", 8.0)]
)
def test_generate_echoes_the_effective_ratio_and_duration(xkey, ratio, duration) -> None:
    body = generate(
        xkey, {"prompt": "x", "aspect_ratio": ratio, "duration_seconds": duration}
    ).json()
    assert body["aspect_ratio"] == ratio
    assert body["duration_seconds"] == int(duration)
    assert Job.objects.get(pk=body["job_id"]).duration_seconds == int(duration)


def test_generate_ignores_unknown_fields_and_null_optionals(xkey) -> None:
    response = generate(
        xkey,
        {
            "prompt": "x",
            "aspect_ratio": None,
            "duration_seconds": None,
            "image": None,
            "model": "veo3",
            "foo": {"bar": 1},
        },
    )
    assert response.status_code == 200
    assert response.json()["aspect_ratio"] == "16:9"
    assert response.json()["duration_seconds"] == 8


def test_codefast_jobs_use_the_configured_tier_and_resolution(xkey, settings) -> None:
    settings.CODEFAST_MODEL_TIER = "quality"
    settings.CODEFAST_RESOLUTION = "1080p"
    job = Job.objects.get(pk=generate(xkey, {"prompt": "x"}).json()["job_id"])
    assert (job.model_tier, job.resolution) == ("quality", "1080p")
    # Veo renders 1080p only as 8 s clips: the field the client controls is named.
    response = generate(xkey, {"prompt": "x", "duration_seconds": 4})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("duration_seconds ")


BAD_BODIES = [
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": ["a"]}, "prompt"),
    ({"prompt": "x" * 5001}, "prompt"),
    ({"prompt": "x", "aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"prompt": "x", "aspect_ratio": "auto"}, "aspect_ratio"),
    ({"prompt": "x", "aspect_ratio": 16}, "aspect_ratio"),
    ({"prompt": "x", "duration_seconds": 5}, "duration_seconds"),
    ({"prompt": "x", "duration_seconds": 10}, "duration_seconds"),
    ({"prompt": "x", "duration_seconds": 6.5}, "duration_seconds"),
    ({"prompt": "x", "duration_seconds": "six"}, "duration_seconds"),
    ({"prompt": "x", "duration_seconds": True}, "duration_seconds"),
    ({"prompt": "x", "duration_seconds": -8}, "duration_seconds"),
    ({"prompt": "x", "image": 123}, "image"),
    ({"prompt": "x", "image": ["aGk="]}, "image"),
    ({"prompt": "x", "image": "not base64 at all!!"}, "image"),
    ({"prompt": "x", "image": "   "}, "image"),
    ({"prompt": "x", "image": b64(b"hello, this is text")}, "image"),
    ({"prompt": "x", "image": b64(b"GIF89a" + b"\x00" * 40)}, "image"),
    ({"prompt": "x", "image": b64(b"%PDF-1.4 fake")}, "image"),
    ({"prompt": "x", "image": b64(image_bytes("PNG"))[:-40]}, "image"),  # truncated
    ({"prompt": "x", "image": "data:text/plain;base64," + b64(image_bytes("PNG"))}, "image"),
    ({"prompt": "x", "image": "data:image/png," + b64(image_bytes("PNG"))}, "image"),
    ({"prompt": "x", "image": "data:image/png;base64,"}, "image"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(xkey, body, field) -> None:
    response = generate(xkey, body)
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert list(response.json()) == ["detail"]
    assert detail.startswith(f"{field} "), detail
    assert_nothing_written(xkey.user)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"prompt=x", "application/x-www-form-urlencoded"),
        (b'{"prompt": "x"}', "text/plain"),
    ],
)
def test_malformed_body_is_422(xkey, raw, content_type) -> None:
    response = xkey.post("/generate", raw, content_type=content_type)
    assert response.status_code == 422
    assert "body" in response.json()["detail"]
    assert_nothing_written(xkey.user)


def test_a_body_longer_than_any_valid_request_is_413_before_parsing(xkey, settings) -> None:
    settings.CODEFAST_IMAGE_MAX_BYTES = 1000
    response = generate(xkey, {"prompt": "x", "junk": "x" * (2 * 2**20)})
    assert response.status_code == 413
    assert "image may be at most" in response.json()["detail"]
    settings.CODEFAST_IMAGE_MAX_BYTES = 10 * 2**20
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # Django's own cap answers the same way
    response = generate(xkey, {"prompt": "x" * 3000})
    assert response.status_code == 413
    assert response.json() == {"detail": "body is too large"}
    assert_nothing_written(xkey.user)


def test_wrong_method_is_405_in_the_detail_shape(xkey) -> None:
    response = xkey.get("/generate")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


# --- base64 images -------------------------------------------------------------------------


def _variants() -> list[tuple[str, str]]:
    png, jpeg, webp = image_bytes("PNG"), image_bytes("JPEG"), image_bytes("WEBP")
    chunked = "\n".join(b64(png)[i : i + 76] for i in range(0, len(b64(png)), 76))
    return [
        ("raw PNG", b64(png)),
        ("data URI JPEG", "data:image/jpeg;base64," + b64(jpeg)),
        ("data URI WebP", "data:image/webp;base64," + b64(webp)),
        ("MIME line breaks", chunked),
        ("URL-safe, unpadded", base64.urlsafe_b64encode(png).decode().rstrip("=")),
        ("declared type ignored", "data:image/gif;base64," + b64(png)),
    ]


@pytest.mark.parametrize(("label", "value"), _variants(), ids=[v[0] for v in _variants()])
def test_base64_image_makes_an_image_to_video_job(xkey, label, value) -> None:
    response = generate(xkey, {"prompt": "slow push in", "image": value})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["has_image"] is True
    job = Job.objects.get(pk=body["job_id"])
    upload = Upload.objects.get()
    assert job.mode == "image"
    assert job.image_refs == [{"upload": str(upload.id)}]
    assert upload.source == "base64" and upload.user == xkey.user
    assert (upload.width, upload.height) == (320, 180)
    assert job.raw_request["image"]["bytes"] == upload.size
    assert "base64" not in str(job.raw_request)  # the image is not copied into the job row
    status = xkey.get(f"/status/{job.id}").json()
    assert status["has_image"] is True


@pytest.mark.parametrize("encoded_limit", [True, False])
def test_base64_image_over_the_size_cap_is_422(xkey, settings, encoded_limit) -> None:
    png = image_bytes("PNG", (400, 400))
    # Decided on the encoded length before decoding, or on the decoded size just above it.
    settings.CODEFAST_IMAGE_MAX_BYTES = len(png) // 2 if encoded_limit else len(png) - 1
    response = generate(xkey, {"prompt": "x", "image": b64(png)})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("image is too large")
    assert_nothing_written(xkey.user)


def test_oversized_pixel_count_is_refused_before_decoding(xkey, settings) -> None:
    settings.GENERATION_IMAGE_MAX_PIXELS = 1000
    response = generate(xkey, {"prompt": "x", "image": b64(image_bytes("PNG", (100, 100)))})
    assert response.status_code == 422
    assert "pixels" in response.json()["detail"]
    assert_nothing_written(xkey.user)


# --- Idempotency-Key -----------------------------------------------------------------------


def test_idempotency_key_replays_the_job_and_refuses_a_different_body(xkey) -> None:
    body = {"prompt": "same", "aspect_ratio": "9:16"}
    first = generate(xkey, body, HTTP_IDEMPOTENCY_KEY="cf-1")
    second = generate(xkey, {**body, "duration_seconds": 8}, HTTP_IDEMPOTENCY_KEY="cf-1")
    assert first.status_code == second.status_code == 200
    assert first.json()["job_id"] == second.json()["job_id"]
    assert Job.objects.count() == 1
    assert Transfer.objects.filter(kind="hold").count() == 1
    assert second.json()["daily_limit_remaining"] == 19  # counted once
    other = generate(xkey, {**body, "prompt": "different"}, HTTP_IDEMPOTENCY_KEY="cf-1")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    assert Job.objects.count() == 1


def test_idempotent_retry_with_an_image_stores_the_image_once(xkey) -> None:
    body = {"prompt": "x", "image": b64(image_bytes("PNG"))}
    first = generate(xkey, body, HTTP_IDEMPOTENCY_KEY="img-1").json()
    second = generate(xkey, body, HTTP_IDEMPOTENCY_KEY="img-1").json()
    assert first["job_id"] == second["job_id"] and second["has_image"] is True
    assert Upload.objects.count() == 1 and Job.objects.count() == 1
    other_image = {"prompt": "x", "image": b64(image_bytes("PNG", color=(1, 2, 3)))}
    assert generate(xkey, other_image, HTTP_IDEMPOTENCY_KEY="img-1").status_code == 409
    assert Upload.objects.count() == 1


# --- daily limit ---------------------------------------------------------------------------

# 20:50 UTC is 23:50 in Istanbul (UTC+3 all year): the codefast day ends ten minutes later,
# three hours before UTC midnight.
BEFORE_ISTANBUL_MIDNIGHT = datetime(2031, 3, 14, 20, 50, tzinfo=UTC)


def test_daily_limit_is_429_until_midnight_in_istanbul(xkey, time_machine) -> None:
    time_machine.move_to(BEFORE_ISTANBUL_MIDNIGHT, tick=False)
    xkey.user.daily_limit = 2
    xkey.user.save()
    assert generate(xkey).json()["daily_limit_remaining"] == 1
    assert generate(xkey).json()["daily_limit_remaining"] == 0
    refused = generate(xkey)
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Daily limit reached",
        "daily_limit": 2,
        "daily_limit_remaining": 0,
    }
    assert refused["Retry-After"] == "600"
    assert Job.objects.count() == 2
    assert Transfer.objects.filter(kind="hold").count() == 2  # nothing held for the refusal
    time_machine.move_to(BEFORE_ISTANBUL_MIDNIGHT + timedelta(minutes=9, seconds=59))
    assert generate(xkey).status_code == 429
    time_machine.move_to(BEFORE_ISTANBUL_MIDNIGHT + timedelta(minutes=10, seconds=1))
    allowed = generate(xkey)
    assert allowed.status_code == 200
    assert allowed.json()["daily_limit_remaining"] == 1
    assert xkey.get("/videos").json()["daily_limit_remaining"] == 1


def test_a_failed_job_gives_its_daily_slot_back(xkey) -> None:
    xkey.user.daily_limit = 1
    xkey.user.save()
    first = generate(xkey).json()
    assert generate(xkey).status_code == 429
    job_fail(job_id=first["job_id"], stage="generation", code=501, message="Upstream failed.")
    status = xkey.get(f"/status/{first['job_id']}").json()
    assert status["status"] == "failed" and status["error"] == "Upstream failed."
    assert status["daily_limit_remaining"] == 1
    again = generate(xkey)
    assert again.status_code == 200 and again.json()["daily_limit_remaining"] == 0
    # Credits follow the ledger: the failed job's hold was released, the new one is held.
    assert balance_get(user=xkey.user).held == price(8)
    assert balance_get(user=xkey.user).available == 1000 - price(8)


def test_daily_limit_defaults_to_the_setting(xkey, settings) -> None:
    settings.GENERATION_DAILY_LIMIT = 7
    body = xkey.get("/videos").json()
    assert (body["daily_limit"], body["daily_limit_remaining"]) == (7, 7)


def test_daily_limit_is_editable_in_the_user_admin(client) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    customer = UserFactory()
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    assert 'name="daily_limit"' in client.get(url).content.decode()
    joined = customer.date_joined
    response = client.post(
        url,
        {
            "email": customer.email,
            "full_name": customer.full_name,
            "daily_limit": "5",
            "is_active": "on",
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.daily_limit == 5
    assert client_for(customer).get("/videos").json()["daily_limit"] == 5


# --- other refusals ------------------------------------------------------------------------


def test_insufficient_credits_is_402_and_holds_nothing(db) -> None:
    """402 as on every other facade: waiting does not bring credits back, so not 429."""
    poor = funded(credits=3)
    response = generate(client_for(poor))
    assert response.status_code == 402
    assert "Retry-After" not in response
    body = response.json()
    assert body["detail"] == "Insufficient credits"
    assert (body["required_credits"], body["available_credits"]) == (price(8), 3)
    assert (body["daily_limit"], body["daily_limit_remaining"]) == (20, 20)
    assert not Job.objects.exists()


def test_rate_limit_is_429_with_retry_after(xkey, settings) -> None:
    settings.GENERATION_RATE_LIMIT = 2
    assert generate(xkey).status_code == 200
    assert generate(xkey).status_code == 200
    response = generate(xkey)
    assert response.status_code == 429
    assert response.json()["detail"] == "Rate limit exceeded"
    assert int(response["Retry-After"]) >= 1
    assert Job.objects.count() == 2


def test_concurrency_cap_is_429_with_retry_after(xkey, settings) -> None:
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    assert generate(xkey).status_code == 200
    response = generate(xkey)
    assert response.status_code == 429
    assert "at most 1" in response.json()["detail"]
    assert int(response["Retry-After"]) >= 1
    assert Job.objects.count() == 1


# --- GET /status/{job_id} ------------------------------------------------------------------


def test_status_has_every_key_in_every_state(xkey, time_machine) -> None:
    time_machine.move_to(datetime(2031, 9, 20, 0, 7, 58, tzinfo=UTC), tick=False)
    job_id = generate(xkey, {"prompt": "x", "aspect_ratio": "9:16", "duration_seconds": 6}).json()[
        "job_id"
    ]
    queued = xkey.get(f"/status/{job_id}").json()
    assert list(queued) == STATUS_KEYS
    assert queued == {
        "job_id": job_id,
        "status": "queued",
        "queue_position": 1,
        "total_in_queue": 1,
        "aspect_ratio": "9:16",
        "duration_seconds": 6,
        "has_image": False,
        "video_url": "",
        "error": "",
        "created_at": "20.09.2031 03:07:58",
        "started_at": "",
        "completed_at": "",
        "daily_limit": 20,
        "daily_limit_remaining": 19,
    }
    started = datetime(2031, 9, 20, 0, 7, 59, tzinfo=UTC)
    Job.objects.filter(pk=job_id).update(state="running", started_at=started, progress=40)
    job_snapshot_publish(job_id=job_id)  # as every change outside generation.services must
    running = xkey.get(f"/status/{job_id}").json()
    assert list(running) == STATUS_KEYS
    assert (running["status"], running["queue_position"], running["total_in_queue"]) == (
        "processing",
        0,
        0,
    )
    assert running["started_at"] == "20.09.2031 03:07:59" and running["completed_at"] == ""
    Job.objects.filter(pk=job_id).update(
        state="succeeded",
        video_file=f"videos/{job_id}.mp4",
        completed_at=datetime(2031, 9, 20, 0, 9, 6, tzinfo=UTC),
    )
    job_snapshot_publish(job_id=job_id)
    done = xkey.get(f"/status/{job_id}").json()
    assert list(done) == STATUS_KEYS
    assert done["status"] == "completed" and done["error"] == ""
    assert done["video_url"] == f"http://testserver/media/v/{job_id}.mp4"
    assert done["completed_at"] == "20.09.2031 03:09:06"
    assert (done["queue_position"], done["total_in_queue"]) == (0, 0)


def test_times_follow_the_configured_zone(xkey, settings, time_machine) -> None:
    settings.CODEFAST_TIME_ZONE = "UTC"
    time_machine.move_to(datetime(2031, 9, 20, 0, 7, 58, tzinfo=UTC), tick=False)
    job_id = generate(xkey).json()["job_id"]
    assert xkey.get(f"/status/{job_id}").json()["created_at"] == "20.09.2031 00:07:58"


def test_status_of_a_job_made_by_another_facade_of_the_same_account(xkey) -> None:
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=xkey.user).token}")
    uuid = bearer.post(
        "/api/generate-video", {"generationType": "text_to_video", "prompt": "x"}, format="json"
    ).json()["data"]["uuid"]
    body = xkey.get(f"/status/{uuid}").json()
    assert body["job_id"] == uuid and body["status"] == "queued"
    assert body["aspect_ratio"] == "auto"  # as asked, until the worker resolves it


@pytest.mark.parametrize(
    "job_id",
    [
        "2949a83f-ac0c-46a3-a3a2-aad86d2d577d",
        "not-a-uuid",
        "2949a83f-ac0c-46a3-a3a2-zzzzzzzzzzzz",
        "a/b",
        "",
        "%00",
        "x" * 500,
    ],
)
def test_unknown_or_malformed_job_id_is_404(xkey, job_id) -> None:
    response = xkey.get(f"/status/{job_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Job not found"}


def test_another_accounts_job_answers_exactly_like_an_unknown_one(xkey) -> None:
    job_id = generate(xkey).json()["job_id"]
    stranger = client_for(funded())
    mine = stranger.get(f"/status/{job_id}")
    unknown = stranger.get("/status/2949a83f-ac0c-46a3-a3a2-aad86d2d577d")
    assert mine.status_code == unknown.status_code == 404
    assert mine.content == unknown.content
    assert job_id not in str(stranger.get("/videos").json())


def test_an_unexpected_error_is_500_in_the_detail_shape(xkey, settings) -> None:
    job_id = generate(xkey).json()["job_id"]
    settings.CODEFAST_TIME_ZONE = "No/Such_Zone"  # a misconfiguration the view trips over
    response = xkey.get(f"/status/{job_id}")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}


# --- queue positions -----------------------------------------------------------------------


def test_queue_positions_are_global_fifo_and_move_as_jobs_start(
    db, django_capture_on_commit_callbacks
) -> None:
    alice, bob = client_for(funded()), client_for(funded())
    created = [generate(c).json() for c in (alice, bob, alice, bob)]
    assert [(c["queue_position"], c["total_in_queue"]) for c in created] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
    ]
    owners = [alice, bob, alice, bob]

    def places() -> list[tuple[int, int]]:
        bodies = [
            o.get(f"/status/{c['job_id']}").json() for o, c in zip(owners, created, strict=True)
        ]
        return [(b["queue_position"], b["total_in_queue"]) for b in bodies]

    assert places() == [(1, 4), (2, 4), (3, 4), (4, 4)]
    Job.objects.filter(pk=created[0]["job_id"]).update(state="running")
    job_snapshot_publish(job_id=created[0]["job_id"])
    assert places() == [(0, 3), (1, 3), (2, 3), (3, 3)]
    with django_capture_on_commit_callbacks(execute=True):  # its publication, as committed
        job_fail(job_id=created[2]["job_id"], stage="generation", code=501, message="x")
    assert places() == [(0, 2), (1, 2), (0, 0), (2, 2)]


def test_jobs_created_at_the_same_instant_are_ordered_by_id(funded_user) -> None:
    client = client_for(funded_user)
    ids = [generate(client).json()["job_id"] for _ in range(4)]
    same = Job.objects.get(pk=ids[0]).created_at
    Job.objects.filter(pk__in=ids).update(created_at=same)
    for job_id in ids:
        job_snapshot_publish(job_id=job_id)
    positions = {job_id: client.get(f"/status/{job_id}").json()["queue_position"] for job_id in ids}
    assert sorted(positions, key=positions.get) == sorted(ids)
    assert sorted(positions.values()) == [1, 2, 3, 4]


def test_long_queues_use_the_snapshot_and_stay_exact_near_the_job(
    funded_user, time_machine
) -> None:
    time_machine.move_to(datetime(2031, 5, 1, 12, 0, tzinfo=UTC), tick=False)
    users = [UserFactory() for _ in range(3)]
    base = datetime(2031, 5, 1, 11, 0, tzinfo=UTC)
    jobs = Job.objects.bulk_create(
        [
            Job(
                user=users[i % 3],
                facade="codefast",
                prompt=f"j{i}",
                created_at=base + timedelta(milliseconds=i),
            )
            for i in range(700)
        ]
    )
    ordered = sorted(jobs, key=lambda j: (j.created_at, j.pk))

    def place(job, **kw):
        job.refresh_from_db()
        return job_queue_place(job=job, snapshot_seconds=2.0, **kw)

    exact = [(place(j).position, place(j).total) for j in ordered[::97]]
    from_snapshot = [
        (place(j, exact_max=100).position, place(j, exact_max=100).total) for j in ordered[::97]
    ]
    assert from_snapshot == exact == [(1 + 97 * k, 700) for k in range(len(exact))]
    # Arrivals after the snapshot are counted exactly, at the end of the queue.
    late = Job.objects.create(
        user=users[0], facade="codefast", prompt="late", created_at=base + timedelta(minutes=30)
    )
    assert place(late, exact_max=100) == place(late)
    assert place(late).position == 701 and place(late, exact_max=100).total == 701
    # Jobs that left ahead of the fence count until the snapshot is renewed (2 s here).
    Job.objects.filter(pk__in=[j.pk for j in ordered[:300]]).update(state="running")
    target = ordered[600]
    assert place(target).position == 301
    assert place(target, exact_max=100).position == 601
    time_machine.move_to(datetime(2031, 5, 1, 12, 0, 3, tzinfo=UTC), tick=False)
    assert place(target, exact_max=100) == place(target)
    assert place(target).total == 401


def test_snapshot_positions_break_ties_by_id_like_the_exact_count(funded_user) -> None:
    same = datetime(2031, 5, 1, 11, 0, tzinfo=UTC)
    jobs = Job.objects.bulk_create(
        [
            Job(
                user=funded_user,
                facade="codefast",
                prompt=f"t{i}",
                created_at=same + timedelta(seconds=i // 300),
            )
            for i in range(900)
        ]
    )
    for job in sorted(jobs, key=lambda j: (j.created_at, j.pk))[::37]:
        queue_snapshot_forget()
        exact = job_queue_place(job=job)
        assert job_queue_place(job=job, exact_max=10) == exact
        assert exact.total == 900


@pytest.mark.django_db(transaction=True)
def test_positions_stay_distinct_when_jobs_are_submitted_concurrently() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    queue_snapshot_forget()
    users = [funded() for _ in range(4)]
    tokens = [api_key_create(user=u).token for u in users]

    def submit(index: int) -> str:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=tokens[index % 4])
        response = generate(client, {"prompt": f"race {index}"})
        assert response.status_code == 200, response.content
        return response.json()["job_id"]

    job_ids = run_in_threads(12, submit)
    assert all(isinstance(j, str) for j in job_ids), job_ids
    by_id = {str(j.pk): j for j in Job.objects.all()}
    expected = sorted(job_ids, key=lambda j: (by_id[j].created_at, by_id[j].pk))
    places = []
    for job_id in job_ids:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=tokens[job_ids.index(job_id) % 4])
        body = client.get(f"/status/{job_id}").json()
        places.append((body["queue_position"], body["total_in_queue"]))
    assert sorted(p for p, _ in places) == list(range(1, 13))
    assert {t for _, t in places} == {12}
    assert [places[job_ids.index(j)][0] for j in expected] == list(range(1, 13))


# --- GET /videos ---------------------------------------------------------------------------


def _finished(user, count: int, start: datetime) -> list[Job]:
    jobs = []
    for i in range(count):
        job_id = uuid.uuid4()
        jobs.append(
            Job.objects.create(
                id=job_id,
                user=user,
                facade="codefast",
                prompt=f"v{i}",
                state="succeeded",
                video_file=f"videos/{job_id}.mp4",
                created_at=start + timedelta(minutes=i),
                aspect_ratio="9:16" if i % 2 else "16:9",
                duration_seconds=6,
                image_refs=[{"upload": "x"}] if i == 0 else [],
                completed_at=start + timedelta(minutes=i, seconds=50),
            )
        )
    return jobs


def test_videos_lists_completed_jobs_newest_first(xkey) -> None:
    start = datetime(2025, 9, 20, 0, 5, 30, tzinfo=UTC)
    jobs = _finished(xkey.user, 3, start)
    generate(xkey)  # queued: not listed
    failed = generate(xkey).json()["job_id"]
    job_fail(job_id=failed, stage="generation", code=501, message="x")
    _finished(UserFactory(), 2, start)  # another account's: not listed
    response = xkey.get("/videos", {"page": 2, "limit": 1, "whatever": "x"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["count", "videos", "daily_limit", "daily_limit_remaining"]
    assert body["count"] == 3
    assert [v["job_id"] for v in body["videos"]] == [str(j.pk) for j in reversed(jobs)]
    oldest = body["videos"][-1]
    assert oldest == {
        "job_id": str(jobs[0].pk),
        "video_url": f"http://testserver/media/v/{jobs[0].pk}.mp4",
        "created_at": "20.09.2025 03:05:30",
        "metadata": {
            "aspect_ratio": "16:9",
            "duration_seconds": 6,
            "resolution": "720p",
            "has_image": True,
        },
    }
    assert body["videos"][0]["metadata"]["has_image"] is False
    # Today: the queued job counts, the failed one does not (the videos are from 2025).
    assert (body["daily_limit"], body["daily_limit_remaining"]) == (20, 19)


def test_videos_is_empty_for_a_new_account(xkey) -> None:
    assert xkey.get("/videos").json() == {
        "count": 0,
        "videos": [],
        "daily_limit": 20,
        "daily_limit_remaining": 20,
    }


def test_videos_query_count_does_not_grow_with_the_list(
    xkey, django_assert_max_num_queries
) -> None:
    start = datetime(2025, 9, 20, tzinfo=UTC)
    _finished(xkey.user, 1, start)
    xkey.get("/videos")  # warm the key cache and last-used stamp
    with CaptureQueriesContext(connection) as one:
        assert xkey.get("/videos").json()["count"] == 1
    _finished(xkey.user, 25, start + timedelta(hours=1))
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert xkey.get("/videos").json()["count"] == 26


# --- CORS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/generate", "/status/2949a83f", "/videos"])
def test_cors_preflight_allows_the_key_header_and_json(client, path) -> None:
    response = client.options(
        path,
        HTTP_ORIGIN="https://panel.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key,content-type",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    allowed = [h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")]
    assert {"x-api-key", "content-type"} <= set(allowed)
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    assert "Access-Control-Allow-Credentials" not in response
    assert int(response["Access-Control-Max-Age"]) > 0


def test_cors_headers_on_answers_and_errors(xkey, client) -> None:
    ok = xkey.get("/videos", HTTP_ORIGIN="https://panel.example")
    assert ok["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in ok["Access-Control-Expose-Headers"]
    denied = client.get("/videos", HTTP_ORIGIN="https://panel.example")
    assert denied.status_code == 401 and denied["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in xkey.get("/videos")  # no Origin, no CORS


def test_cors_allowed_origins_are_configurable(client, settings) -> None:
    settings.CODEFAST_CORS_ALLOWED_ORIGINS = ["https://panel.example"]
    preflight = {
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-api-key",
    }
    allowed = client.options("/videos", HTTP_ORIGIN="https://panel.example", **preflight)
    assert allowed["Access-Control-Allow-Origin"] == "https://panel.example"
    assert "Origin" in allowed["Vary"]
    refused = client.options("/videos", HTTP_ORIGIN="https://evil.example", **preflight)
    assert refused.status_code == 204
    assert "Access-Control-Allow-Origin" not in refused
    assert "Access-Control-Allow-Headers" not in refused


def test_cors_is_only_for_codefast_paths(client) -> None:
    response = client.options(
        "/api/generate-video",
        HTTP_ORIGIN="https://panel.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response
