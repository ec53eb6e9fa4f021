"""veo3api.ai / kie facade: wire shapes of every endpoint, every error code, nothing written on
bad input (contracts/veo3api.md, README A1-A28)."""

from __future__ import annotations

import base64
import json
import re
import socket
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.models import Price, Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job, Upload
from generation.services import JobSpec, job_fail, job_submit
from tests.factories import UserFactory
from tests.generation.conftest import enqueued, image_bytes
from tests.generation.veo3api_helpers import (
    PUBLIC_IP,
    fake_getaddrinfo,
    receiver_running,
    run_job,
    succeed_with_copy,
)

pytestmark = pytest.mark.django_db

TASK_ID_RE = re.compile(r"^veo_task_[0-9a-f]{32}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def price(
    operation: str = "generate", tier: str = "quality", resolution: str = "720p", seconds: int = 8
) -> int:
    return price_quote(
        operation=operation, model_tier=tier, resolution=resolution, seconds=seconds
    ).credits


def generate(client, body, **headers):
    return client.post("/api/v1/veo/generate", body, format="json", **headers)


def record(client, task_id: str):
    return client.get("/api/v1/veo/record-info", {"taskId": task_id})


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        fake_getaddrinfo({"images.example.com": PUBLIC_IP, "hooks.example.com": PUBLIC_IP}),
    )


def queued_fast_job(bearer) -> Job:
    body = generate(
        bearer, {"prompt": "A lighthouse at dusk", "model": "veo3_fast", "duration": 4}
    ).json()
    return Job.objects.get(pk=body["data"]["taskId"].removeprefix("veo_task_"))


@pytest.fixture
def done_job(bearer, finish_with_tiny_video) -> Job:
    """A succeeded 4-second 720p 16:9 veo3_fast text job of the bearer's account whose video is
    the pre-rendered tiny MP4 (records, links and upgrade requests do not look at pixels)."""
    return finish_with_tiny_video(queued_fast_job(bearer))


@pytest.fixture
def rendered_done_job(bearer, settings) -> Job:
    """The same job rendered by the local provider: 4 real seconds to extend. Its 1080p
    version is not prepared on success (tests/generation/test_auto_1080p.py covers that)."""
    settings.GENERATION_AUTO_1080P = False
    job = run_job(queued_fast_job(bearer).pk)
    assert job.state == Job.State.SUCCEEDED, job.error_message
    return job


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------


def test_text_to_video_is_accepted_with_veo3_defaults(
    bearer, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = generate(bearer, {"prompt": "A lighthouse at dusk"})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200 and body["msg"] == "success"
    assert TASK_ID_RE.match(body["data"]["taskId"])
    job = Job.objects.get()
    assert body["data"]["taskId"] == job.task_id
    assert (job.facade, job.kind, job.mode, job.model_tier) == (
        "veo3api",
        "generate",
        "text",
        "quality",
    )
    assert (job.aspect_ratio, job.resolution, job.duration_seconds) == ("16:9", "720p", 8)
    assert balance_get(user=bearer.user).held == price()
    assert len(enqueued(callbacks)) == 1  # enqueued once, after commit


@pytest.mark.parametrize(
    ("model", "tier"), [("veo3", "quality"), ("veo3_fast", "fast"), ("veo3_lite", "lite")]
)
def test_models_map_to_tiers(bearer, model: str, tier: str) -> None:
    generate(bearer, {"prompt": "x", "model": model})
    assert Job.objects.get().model_tier == tier


def test_default_model_is_a_setting(bearer, settings) -> None:
    settings.VEO3API_DEFAULT_MODEL = "veo3_fast"
    generate(bearer, {"prompt": "x"})
    assert Job.objects.get().model_tier == "fast"


def test_snake_aspect_ratio_wins_and_auto_is_case_insensitive(bearer) -> None:
    generate(bearer, {"prompt": "x", "aspectRatio": "9:16", "aspect_ratio": "AUTO"})
    generate(bearer, {"prompt": "x", "aspectRatio": "9:16"})
    assert sorted(Job.objects.values_list("aspect_ratio", flat=True)) == ["9:16", "auto"]


def test_optional_fields_are_used_and_stored_and_unknown_ones_ignored(bearer) -> None:
    sent = {
        "prompt": "x",
        "model": "veo3_fast",
        "seeds": 12345,
        "watermark": "Mine",
        "resolution": "1080P",
        "duration": 8,
        "enableTranslation": False,
        "enableFallback": True,
        "somethingNew": {"a": 1},
    }
    assert generate(bearer, sent).json()["code"] == 200
    job = Job.objects.get()
    assert (job.seed, job.watermark, job.resolution) == (12345, "Mine", "1080p")
    assert job.raw_request == sent


@pytest.mark.parametrize(
    ("count", "generation_type", "mode"),
    [
        (1, None, "image"),
        (2, None, "first_last"),
        (3, None, "reference"),
        (1, "FIRST_AND_LAST_FRAMES_2_VIDEO", "image"),
        (2, "FIRST_AND_LAST_FRAMES_2_VIDEO", "first_last"),
        (1, "REFERENCE_2_VIDEO", "reference"),
        (0, "TEXT_2_VIDEO", "text"),
    ],
)
def test_generation_type_is_inferred_or_taken(
    bearer,
    dns,
    count: int,
    generation_type: str | None,
    mode: str,
) -> None:
    body = {
        "prompt": "x",
        "model": "veo3_fast",
        "imageUrls": [f"https://images.example.com/{i}.png" for i in range(count)],
    }
    if generation_type:
        body["generationType"] = generation_type
    response = generate(bearer, body).json()
    assert response["code"] == 200, response
    job = Job.objects.get()
    assert job.mode == mode
    assert job.image_refs == [{"url": url} for url in body["imageUrls"]]


def test_uploaded_files_feed_image_urls(bearer) -> None:
    png = SimpleUploadedFile("frame.png", image_bytes("PNG", (640, 360)), "image/png")
    uploaded = bearer.post("/api/file-stream-upload", {"file": png}, format="multipart").json()
    url = uploaded["data"]["downloadUrl"]
    assert generate(bearer, {"prompt": "x", "imageUrls": [url]}).json()["code"] == 200
    assert Job.objects.get().image_refs == [{"upload": str(Upload.objects.get().id)}]


BAD_BODIES = [
    ({}, "prompt"),
    ({"prompt": "  "}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": "x" * 6000}, "prompt"),
    ({"prompt": "x", "model": "veo2"}, "model"),
    ({"prompt": "x", "model": "fast"}, "model"),
    ({"prompt": "x", "aspectRatio": "4:3"}, "aspectRatio"),
    ({"prompt": "x", "aspect_ratio": "1:1", "aspectRatio": "16:9"}, "aspect_ratio"),
    ({"prompt": "x", "aspectRatio": 16}, "aspectRatio"),
    ({"prompt": "x", "imageUrls": "https://images.example.com/a.png"}, "imageUrls"),
    ({"prompt": "x", "imageUrls": ["https://images.example.com/a.png"] * 4}, "imageUrls"),
    ({"prompt": "x", "imageUrls": [1]}, "imageUrls"),
    ({"prompt": "x", "imageUrls": ["ftp://images.example.com/a.png"]}, "imageUrls"),
    ({"prompt": "x", "imageUrls": ["https://no-such-host.example/a.png"]}, "imageUrls"),
    ({"prompt": "x", "imageUrls": ["http://127.0.0.1/a.png"]}, "imageUrls"),
    ({"prompt": "x", "generationType": "IMAGE_2_VIDEO"}, "generationType"),
    (
        {
            "prompt": "x",
            "generationType": "TEXT_2_VIDEO",
            "imageUrls": ["https://images.example.com/a.png"],
        },
        "imageUrls",
    ),
    ({"prompt": "x", "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"}, "imageUrls"),
    ({"prompt": "x", "generationType": "REFERENCE_2_VIDEO"}, "imageUrls"),
    (
        {"prompt": "x", "model": "veo3", "imageUrls": ["https://images.example.com/a.png"] * 3},
        "model",
    ),
    ({"prompt": "x", "seeds": 9999}, "seeds"),
    ({"prompt": "x", "seeds": 100000}, "seeds"),
    ({"prompt": "x", "seeds": "many"}, "seeds"),
    ({"prompt": "x", "watermark": ["a"]}, "watermark"),
    ({"prompt": "x", "watermark": "w" * 201}, "watermark"),
    ({"prompt": "x", "resolution": "8k"}, "resolution"),
    ({"prompt": "x", "model": "veo3_lite", "resolution": "4k"}, "resolution"),
    ({"prompt": "x", "duration": 5}, "duration"),
    ({"prompt": "x", "duration": True}, "duration"),
    ({"prompt": "x", "resolution": "1080p", "duration": 4}, "duration"),
    ({"prompt": "x", "enableTranslation": "yes"}, "enableTranslation"),
    ({"prompt": "x", "enableFallback": 1}, "enableFallback"),
    ({"prompt": "x", "callBackUrl": "not a url"}, "callBackUrl"),
    ({"prompt": "x", "callBackUrl": "http://169.254.169.254/latest"}, "callBackUrl"),
    ({"prompt": "x", "callBackUrl": "http://10.0.0.5/hook"}, "callBackUrl"),
    ({"prompt": "x", "callBackUrl": 7}, "callBackUrl"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_is_422_naming_the_field_and_changes_nothing(bearer, dns, body, field) -> None:
    response = generate(bearer, body)
    assert response.status_code == 422, response.content  # the code is the status (A1)
    payload = response.json()
    assert payload["code"] == 422, payload
    assert payload["msg"].startswith(field), payload
    assert payload["data"] is None
    assert not Job.objects.exists()
    assert balance_get(user=bearer.user).available == 1000


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_body_is_422(bearer, raw: bytes) -> None:
    response = bearer.post("/api/v1/veo/generate", raw, content_type="application/json")
    assert response.json()["code"] == 422 and response.json()["msg"].startswith("body")
    assert not Job.objects.exists()


def test_missing_key_is_401_with_a_real_http_status_by_default(client) -> None:
    response = client.post("/api/v1/veo/generate", {"prompt": "x"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == 401 and response.json()["data"] is None


def test_errors_ride_in_http_200_bodies_when_mirroring_the_vendor(client, settings) -> None:
    settings.VEO3API_HTTP_ERROR_STATUS = False
    response = client.post("/api/v1/veo/generate", {"prompt": "x"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["code"] == 401 and response.json()["data"] is None


@pytest.mark.parametrize("header", ["Bearer vsk_nope", "Bearer", "Basic abc"])
@pytest.mark.parametrize(
    "path", ["/api/v1/veo/record-info?taskId=x", "/api/v1/common/credit", "/api/v1/chat/credit"]
)
def test_invalid_key_is_401(client, header: str, path: str) -> None:
    response = client.get(path, HTTP_AUTHORIZATION=header)
    assert response.json()["code"] == 401


def test_codes_can_be_mirrored_as_http_statuses(bearer, client, settings) -> None:
    settings.VEO3API_HTTP_ERROR_STATUS = True
    assert generate(bearer, {"prompt": ""}).status_code == 422
    assert client.get("/api/v1/common/credit").status_code == 401
    assert record(bearer, "veo_task_nothing").status_code == 422
    assert generate(bearer, {"prompt": "x"}).status_code == 200


def test_insufficient_credits_is_402_with_kie_message(db) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=3, idempotency_key="poor")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user).token}")
    body = generate(client, {"prompt": "x"}).json()
    assert body == {
        "code": 402,
        "msg": "The current credits are insufficient. Please top up.",
        "data": None,
    }
    assert not Job.objects.exists()
    assert not Transfer.objects.filter(kind="hold").exists()


def test_rate_limit_is_429_with_retry_after(bearer, settings) -> None:
    settings.GENERATION_RATE_LIMIT = 2
    assert generate(bearer, {"prompt": "x"}).json()["code"] == 200
    assert generate(bearer, {"prompt": "x"}).json()["code"] == 200
    response = generate(bearer, {"prompt": "x"})
    assert response.json()["code"] == 429
    assert 1 <= int(response["Retry-After"]) <= 10
    assert Job.objects.count() == 2


def test_concurrent_job_cap_is_429(bearer, settings) -> None:
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    assert generate(bearer, {"prompt": "x"}).json()["code"] == 200
    response = generate(bearer, {"prompt": "x"})
    assert response.json()["code"] == 429 and response["Retry-After"]
    assert Job.objects.count() == 1


def test_idempotency_key_replays_the_task_and_refuses_a_different_body(bearer) -> None:
    body = {"prompt": "same", "model": "veo3_fast"}
    first = generate(bearer, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    second = generate(bearer, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert first["code"] == second["code"] == 200
    assert first["data"]["taskId"] == second["data"]["taskId"]
    assert Job.objects.count() == 1
    assert Transfer.objects.filter(kind="hold").count() == 1
    other = generate(bearer, {**body, "prompt": "different"}, HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert other["code"] == 422 and other["msg"].startswith("Idempotency-Key")
    assert Job.objects.count() == 1


def test_wrong_method_and_unknown_paths(bearer) -> None:
    assert bearer.get("/api/v1/veo/generate").json()["code"] == 405
    missing = bearer.get("/api/v1/veo/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "msg": "Not Found", "data": None}
    assert bearer.post("/api/v1/veo/record-info/extra", {}).status_code == 404


# ---------------------------------------------------------------------------------------------
# record-info
# ---------------------------------------------------------------------------------------------


def test_record_of_a_new_task(bearer) -> None:
    sent = {"prompt": "A lighthouse", "aspectRatio": "9:16", "waterMark": "x"}
    task_id = generate(bearer, sent).json()["data"]["taskId"]
    response = record(bearer, task_id)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200 and body["msg"] == "success"
    data = body["data"]
    assert data["taskId"] == task_id
    assert isinstance(data["paramJson"], str) and json.loads(data["paramJson"]) == sent
    assert TIME_RE.match(data["createTime"]) and data["completeTime"] is None
    assert data["response"] is None
    assert data["successFlag"] == 0
    assert data["errorCode"] is None and data["errorMessage"] is None
    assert data["fallbackFlag"] is False


def test_record_of_a_succeeded_task(bearer, done_job) -> None:
    data = record(bearer, done_job.task_id).json()["data"]
    assert data["successFlag"] == 1
    assert TIME_RE.match(data["completeTime"])
    assert data["errorCode"] is None and data["errorMessage"] == ""
    response = data["response"]
    assert response["taskId"] == done_job.task_id
    assert response["resultUrls"] == [f"http://testserver/media/v/{done_job.id}.mp4"]
    assert response["originUrls"] is None and response["resolution"] == "720p"
    assert bearer.get(f"/media/v/{done_job.id}.mp4").status_code == 200


@pytest.mark.parametrize(("stage", "code", "flag"), [("pre_start", 400, 2), ("generation", 501, 3)])
def test_record_of_a_failed_task(bearer, stage: str, code: int, flag: int) -> None:
    task_id = generate(bearer, {"prompt": "x"}).json()["data"]["taskId"]
    job_fail(job_id=Job.objects.get().pk, stage=stage, code=code, message="it broke")
    data = record(bearer, task_id).json()["data"]
    assert (data["successFlag"], data["errorCode"], data["errorMessage"]) == (
        flag,
        code,
        "it broke",
    )
    assert data["response"] is None and TIME_RE.match(data["completeTime"])


@pytest.mark.parametrize(
    "task_id",
    ["veo_task_abcdef123456", "nope", "x" * 64, "veo_task_" + "0" * 32, str(uuid.UUID(int=0))],
)
def test_unknown_task_is_record_is_null(bearer, task_id: str) -> None:
    assert record(bearer, task_id).json() == {"code": 422, "msg": "record is null.", "data": None}


@pytest.mark.parametrize(
    ("params", "message"), [({}, "taskId is required"), ({"taskId": "x" * 65}, "taskId must be")]
)
def test_bad_task_id_is_422(bearer, params, message: str) -> None:
    body = bearer.get("/api/v1/veo/record-info", params).json()
    assert body["code"] == 422 and body["msg"].startswith(message)


def test_another_accounts_task_answers_like_an_unknown_one(bearer) -> None:
    task_id = generate(bearer, {"prompt": "x"}).json()["data"]["taskId"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=UserFactory()).token}")
    assert record(other, task_id).json() == {"code": 422, "msg": "record is null.", "data": None}


def test_records_older_than_14_days_are_refused(bearer) -> None:
    task_id = generate(bearer, {"prompt": "x"}).json()["data"]["taskId"]
    with time_machine.travel(timezone.now() + timedelta(days=14, minutes=1)):
        assert record(bearer, task_id).json() == {
            "code": 422,
            "msg": "Temporarily supports records within 14 days.",
            "data": None,
        }


def test_jobs_of_other_facades_are_readable_by_task_id(bearer) -> None:
    job = job_submit(user=bearer.user, spec=JobSpec(facade="veo3o1", prompt="x")).job
    for task_id in (job.task_id, str(job.id)):
        data = record(bearer, task_id).json()["data"]
        assert data["taskId"] == job.task_id and data["successFlag"] == 0


# ---------------------------------------------------------------------------------------------
# 1080p, 4K, extend
# ---------------------------------------------------------------------------------------------


def get_1080p(client, task_id: str, **params):
    return client.get("/api/v1/veo/get-1080p-video", {"taskId": task_id, **params})


def test_1080p_is_created_once_processing_then_ready(bearer, done_job) -> None:
    Price.objects.create(
        operation="upgrade_1080p", model_tier="fast", resolution="1080p", flat_credits=5
    )
    processing = {
        "code": 400,
        "data": None,
        "msg": "1080P is processing. It should be ready in 1-2 minutes. Please check back shortly.",
    }
    assert get_1080p(bearer, done_job.task_id).json() == processing
    assert get_1080p(bearer, done_job.task_id, index=0).json() == processing
    upgrade = Job.objects.get(kind="upgrade_1080p")
    assert (upgrade.parent_id, upgrade.mode, upgrade.resolution, upgrade.result_index) == (
        done_job.id,
        "upscale",
        "1080p",
        0,
    )
    assert upgrade.credits_quoted == price("upgrade_1080p", "fast", "1080p", 4)
    upgrade = run_job(upgrade.pk)
    assert (upgrade.output_width, upgrade.output_height) == (1920, 1080)
    body = get_1080p(bearer, done_job.task_id).json()
    assert body == {
        "code": 200,
        "msg": "success",
        "data": {"resultUrl": f"http://testserver/media/v/{upgrade.id}.mp4"},
    }
    assert Job.objects.filter(kind="upgrade_1080p").count() == 1
    assert Transfer.objects.filter(job_id=upgrade.id, kind="capture").count() == 1
    # The upgrade has its own record.
    data = record(bearer, upgrade.task_id).json()["data"]
    assert data["successFlag"] == 1 and data["response"]["resolution"] == "1080p"


def test_1080p_of_a_task_that_did_not_succeed_is_refused(bearer) -> None:
    task_id = generate(bearer, {"prompt": "x"}).json()["data"]["taskId"]
    assert get_1080p(bearer, task_id).json() == {
        "code": 422,
        "data": None,
        "msg": "record status is not success.",
    }
    assert not Job.objects.filter(kind="upgrade_1080p").exists()


def test_1080p_errors(bearer, done_job) -> None:
    assert get_1080p(bearer, "veo_task_" + "1" * 32).json()["msg"] == "record is null."
    for index in ("1", "-1", "x"):
        body = get_1080p(bearer, done_job.task_id, index=index).json()
        assert body["code"] == 422 and body["msg"].startswith("index"), body
    assert not Job.objects.filter(kind="upgrade_1080p").exists()


def test_failed_1080p_upgrade_can_be_asked_for_again(bearer, done_job) -> None:
    get_1080p(bearer, done_job.task_id)
    first = Job.objects.get(kind="upgrade_1080p")
    job_fail(job_id=first.pk, stage="generation", code=500, message="boom")
    assert get_1080p(bearer, done_job.task_id).json()["code"] == 400
    assert Job.objects.filter(kind="upgrade_1080p").count() == 2
    assert balance_get(user=bearer.user).held == price("upgrade_1080p", "fast", "1080p", 4)


def test_1080p_of_a_1080p_video_is_the_video_itself_free(bearer, done_job) -> None:
    Job.objects.filter(pk=done_job.pk).update(resolution="1080p")
    body = get_1080p(bearer, done_job.task_id).json()
    assert body == {
        "code": 200,
        "msg": "success",
        "data": {"resultUrl": f"http://testserver/media/v/{done_job.id}.mp4"},
    }
    assert not Job.objects.filter(kind="upgrade_1080p").exists()


def get_4k(client, task_id: str, **body):
    return client.post("/api/v1/veo/get-4k-video", {"taskId": task_id, **body}, format="json")


def test_4k_first_call_then_processing_then_generated(bearer, done_job, tmp_path) -> None:
    first = get_4k(bearer, done_job.task_id).json()
    upgrade = Job.objects.get(kind="upgrade_4k")
    assert first == {
        "code": 200,
        "msg": "success",
        "data": {"taskId": upgrade.task_id, "resultUrls": None, "imageUrls": None},
    }
    assert upgrade.credits_quoted == price("upgrade_4k", "fast", "4k", 4)
    again = get_4k(bearer, done_job.task_id).json()
    assert again == {
        "code": 422,
        "msg": "4k is processing. It should be ready in 5-10 minutes. Please check back shortly.",
        "data": {"taskId": upgrade.task_id, "resultUrls": None, "imageUrls": None},
    }
    succeed_with_copy(upgrade, done_job, tmp_path, width=3840, height=2160)
    done = get_4k(bearer, done_job.task_id).json()
    assert done["code"] == 422 and done["msg"] == "The video has been generated successfully"
    assert done["data"]["resultUrls"] == [f"http://testserver/media/v/{upgrade.id}.mp4"]
    assert done["data"]["imageUrls"] == [f"http://testserver/media/v/{upgrade.id}.jpg"]
    assert Job.objects.filter(kind="upgrade_4k").count() == 1
    data = record(bearer, upgrade.task_id).json()["data"]
    assert data["response"]["mediaIds"] == [upgrade.id.hex] and "fallbackFlag" not in data


def test_4k_bad_body(bearer, done_job) -> None:
    for body, field in (({"index": "two"}, "index"), ({"callBackUrl": 5}, "callBackUrl")):
        answer = get_4k(bearer, done_job.task_id, **body).json()
        assert answer["code"] == 422 and answer["msg"].startswith(field)
    assert get_4k(bearer, "").json()["msg"].startswith("taskId")
    assert not Job.objects.filter(kind="upgrade_4k").exists()


def extend(client, body):
    return client.post("/api/v1/veo/extend", body, format="json")


def test_extend_creates_an_8s_720p_extension_job(bearer, done_job) -> None:
    body = extend(
        bearer,
        {"taskId": done_job.task_id, "prompt": "keep going", "seeds": 22222, "watermark": "w"},
    ).json()
    assert body["code"] == 200
    job = Job.objects.get(kind="extend")
    assert body["data"]["taskId"] == job.task_id
    assert re.match(r"^veo_extend_task_[0-9a-f]{32}$", job.task_id)
    assert (job.mode, job.parent_id, job.duration_seconds, job.resolution) == (
        "extend",
        done_job.id,
        8,
        "720p",
    )
    assert (job.model_tier, job.seed, job.aspect_ratio) == ("fast", 22222, "16:9")
    assert job.credits_quoted == price("extend", "fast", "720p", 8)
    data = record(bearer, job.task_id).json()["data"]
    assert data["taskId"] == job.task_id and data["successFlag"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x"}, "taskId"),
        ({"taskId": "{task}"}, "prompt"),
        ({"taskId": "{task}", "prompt": "x", "model": "veo3_fast"}, "model"),
        ({"taskId": "{task}", "prompt": "x", "seeds": 5}, "seeds"),
        ({"taskId": "{task}", "prompt": "x", "callBackUrl": "file:///etc/passwd"}, "callBackUrl"),
    ],
)
def test_extend_bad_input_is_422(bearer, done_job, body, field: str) -> None:
    body = {
        k: v.format(task=done_job.task_id) if isinstance(v, str) else v for k, v in body.items()
    }
    answer = extend(bearer, body).json()
    assert answer["code"] == 422 and answer["msg"].startswith(field), answer
    assert not Job.objects.filter(kind="extend").exists()


def test_extend_needs_a_succeeded_720p_source(bearer, done_job) -> None:
    pending = generate(bearer, {"prompt": "x"}).json()["data"]["taskId"]
    assert extend(bearer, {"taskId": pending, "prompt": "x"}).json()["msg"] == (
        "record status is not success."
    )
    Job.objects.filter(pk=done_job.pk).update(resolution="1080p")
    answer = extend(bearer, {"taskId": done_job.task_id, "prompt": "x"}).json()
    assert answer["code"] == 422 and answer["msg"].startswith("taskId")
    assert not Job.objects.filter(kind="extend").exists()


# ---------------------------------------------------------------------------------------------
# credits, download-url
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/common/credit", "/api/v1/chat/credit"])
def test_credit_is_the_available_balance_as_an_integer(bearer, path: str) -> None:
    assert bearer.get(path).json() == {"code": 200, "msg": "success", "data": 1000}
    generate(bearer, {"prompt": "x"})
    assert bearer.get(path).json()["data"] == 1000 - price()


def test_download_url_is_a_temporary_link_to_our_file(bearer, done_job) -> None:
    video = f"http://testserver/media/v/{done_job.id}.mp4"
    body = bearer.post("/api/v1/common/download-url", {"url": video}, format="json").json()
    assert body["code"] == 200 and body["data"].startswith("http://testserver/media/d/")
    link = body["data"].removeprefix("http://testserver")
    fresh = APIClient().get(link)
    assert fresh.status_code == 200
    assert fresh["Content-Disposition"].startswith("attachment")
    assert b"".join(fresh.streaming_content) == b"".join(bearer.get(video).streaming_content)
    with time_machine.travel(timezone.now() + timedelta(minutes=21)):
        assert APIClient().get(link).status_code == 404
    assert APIClient().get(link[:-3] + "abc").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://tempfile.aiquickdraw.com/p/x.mp4",
        "http://testserver/admin/",
        "http://testserver/media/v/00000000-0000-0000-0000-000000000000.mp4",
        "not a url",
    ],
)
def test_download_url_refuses_foreign_urls(bearer, url: str) -> None:
    body = bearer.post("/api/v1/common/download-url", {"url": url}, format="json").json()
    assert body["code"] == 422 and body["msg"].startswith("url")


def test_download_url_refuses_another_accounts_file(bearer, done_job) -> None:
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=UserFactory()).token}")
    body = other.post(
        "/api/v1/common/download-url",
        {"url": f"http://testserver/media/v/{done_job.id}.mp4"},
        format="json",
    )
    assert body.json()["code"] == 422


# ---------------------------------------------------------------------------------------------
# File Upload API
# ---------------------------------------------------------------------------------------------


UPLOAD_KEYS = {
    "fileId",
    "fileName",
    "originalName",
    "filePath",
    "downloadUrl",
    "fileUrl",
    "fileSize",
    "mimeType",
    "uploadPath",
    "uploadedAt",
    "expiresAt",
}


def check_uploaded(body: dict, *, name: str, path: str, mime: str) -> Upload:
    assert body["success"] is True and body["code"] == 200
    assert body["msg"] == "File uploaded successfully"
    data = body["data"]
    assert set(data) == UPLOAD_KEYS
    upload = Upload.objects.get()
    assert data["fileName"] == name and data["mimeType"] == mime
    assert data["filePath"] == (f"{path}/{name}" if path else name)
    assert data["fileSize"] == upload.size and data["downloadUrl"] == data["fileUrl"]
    assert data["uploadedAt"].endswith("Z")
    assert abs(upload.expires_at - upload.created_at - timedelta(days=3)) < timedelta(seconds=1)
    return upload


def test_stream_upload(bearer) -> None:
    png = SimpleUploadedFile("photo.png", image_bytes("PNG", (640, 360)), "image/png")
    body = bearer.post(
        "/api/file-stream-upload",
        {"file": png, "uploadPath": "images/user-uploads"},
        format="multipart",
    ).json()
    upload = check_uploaded(body, name="photo.png", path="images/user-uploads", mime="image/png")
    assert (upload.width, upload.height) == (640, 360)
    served = bearer.get(body["data"]["downloadUrl"].removeprefix("http://testserver"))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"


@pytest.mark.parametrize("prefix", ["", "data:image/jpeg;base64,"])
def test_base64_upload(bearer, prefix: str) -> None:
    data = prefix + base64.b64encode(image_bytes("JPEG")).decode()
    body = bearer.post(
        "/api/file-base64-upload", {"base64Data": data, "fileName": "a.jpg"}, format="json"
    ).json()
    upload = check_uploaded(body, name="a.jpg", path="", mime="image/jpeg")
    assert upload.source == "base64"


def test_url_upload_stores_the_fetched_image(bearer, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with receiver_running() as server:
        server.reply = image_bytes("PNG", (320, 180))
        body = bearer.post(
            "/api/file-url-upload",
            {"fileUrl": server.url("/pics/a.png?x=1"), "uploadPath": "in"},
            format="json",
        ).json()
    upload = check_uploaded(body, name="a.png", path="in", mime="image/png")
    assert (upload.source, upload.source_url) == ("url", server.url("/pics/a.png?x=1"))


def test_url_upload_goes_through_the_guard(bearer, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with receiver_running() as server:  # answers JSON, not an image
        not_an_image = bearer.post(
            "/api/file-url-upload", {"fileUrl": server.url("/a.png")}, format="json"
        ).json()
    assert not_an_image["success"] is False and not_an_image["code"] == 400
    assert not_an_image["msg"].startswith("fileUrl")
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    refused = bearer.post(
        "/api/file-url-upload", {"fileUrl": "http://127.0.0.1:9/a.png"}, format="json"
    ).json()
    assert refused["code"] == 400 and "not an allowed URL" in refused["msg"]
    assert not Upload.objects.exists()


BAD_UPLOADS = [
    ("/api/file-stream-upload", "multipart", {}, "file"),
    (
        "/api/file-stream-upload",
        "multipart",
        {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4 fake")},
        "file",
    ),
    ("/api/file-base64-upload", "json", {}, "base64Data"),
    ("/api/file-base64-upload", "json", {"base64Data": "!!notbase64!!"}, "base64Data"),
    ("/api/file-base64-upload", "json", {"base64Data": 12}, "base64Data"),
    (
        "/api/file-base64-upload",
        "json",
        {"base64Data": base64.b64encode(b"GIF89a" + b"\0" * 30).decode()},
        "base64Data",
    ),
    ("/api/file-base64-upload", "json", {"base64Data": "aGVsbG8=", "fileName": "../x"}, "fileName"),
    ("/api/file-url-upload", "json", {}, "fileUrl"),
    ("/api/file-url-upload", "json", {"fileUrl": "ftp://example.com/a.png"}, "fileUrl"),
]


@pytest.mark.parametrize(("path", "fmt", "body", "field"), BAD_UPLOADS)
def test_bad_uploads_are_400_naming_the_field(bearer, path, fmt, body, field) -> None:
    for value in body.values():
        if hasattr(value, "seek"):
            value.seek(0)
    answer = bearer.post(path, body, format=fmt).json()
    assert answer["success"] is False and answer["code"] == 400, answer
    assert answer["msg"].startswith(field), answer
    assert not Upload.objects.exists()


def test_upload_size_cap(bearer, settings) -> None:
    settings.VEO3API_UPLOAD_MAX_BYTES = 1000
    big = image_bytes("PNG", (800, 800), (1, 2, 3))
    stream = bearer.post(
        "/api/file-stream-upload", {"file": SimpleUploadedFile("big.png", big)}, format="multipart"
    ).json()
    encoded = bearer.post(
        "/api/file-base64-upload", {"base64Data": base64.b64encode(big).decode()}, format="json"
    ).json()
    for answer in (stream, encoded):
        assert answer["code"] == 400 and "larger than" in answer["msg"], answer
    assert not Upload.objects.exists()


def test_upload_needs_a_key(client) -> None:
    answer = client.post("/api/file-base64-upload", {}, content_type="application/json").json()
    assert answer["success"] is False and answer["code"] == 401


@pytest.mark.slow
def test_extension_record_has_the_whole_video_and_download_links_cover_every_file(
    bearer, rendered_done_job
) -> None:
    done_job = rendered_done_job
    import io

    import av

    task_id = extend(bearer, {"taskId": done_job.task_id, "prompt": "on"}).json()["data"]["taskId"]
    job = run_job(Job.objects.get(kind="extend").pk)
    assert job.state == "succeeded", job.error_message
    response = record(bearer, task_id).json()["data"]["response"]
    full = response["fullResultUrls"][0]
    assert full == f"http://testserver/media/v/{job.id}/full.mp4"
    served = bearer.get(full.removeprefix("http://testserver"))
    assert served.status_code == 200
    with av.open(io.BytesIO(b"".join(served.streaming_content))) as container:
        assert abs(container.duration / av.time_base - 12) < 0.1  # 4 s source + 8 s more
    assert bearer.get(f"/media/v/{done_job.id}/full.mp4").status_code == 404  # not an extension
    for url in (full, f"http://testserver/media/v/{job.id}.jpg"):
        link = bearer.post("/api/v1/common/download-url", {"url": url}, format="json").json()
        assert link["code"] == 200, link
        got = APIClient().get(link["data"].removeprefix("http://testserver"))
        assert got.status_code == 200 and got["Content-Disposition"].startswith("attachment")
