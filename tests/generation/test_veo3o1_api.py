"""veo3o1 facade: wire shapes, every error code, nothing written on bad input."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import price_quote
from generation.models import Job, Upload
from tests.factories import UserFactory
from tests.generation.conftest import enqueued, image_bytes

pytestmark = pytest.mark.django_db


def price() -> int:
    return price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=8
    ).credits


def generate(client, body, **headers):
    return client.post("/api/generate-video", body, format="json", **headers)


def test_text_to_video_is_accepted_and_holds_credits(
    bearer, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = generate(
            bearer,
            {
                "generationType": "text_to_video",
                "prompt": "A lighthouse at dusk",
                "aspectRatio": "16:9",
            },
        )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "Success"
    data = body["data"]
    assert data["status"] == "pending"
    assert data["generationType"] == "text_to_video"
    assert data["aspectRatio"] == "16:9"
    assert data["createdAt"].endswith("Z")
    job = Job.objects.get(pk=data["uuid"])
    assert job.facade == "veo3o1" and job.mode == "text" and job.state == "queued"
    assert balance_get(user=bearer.user).held == price()
    assert len(enqueued(callbacks)) == 1  # J1: enqueued once, after commit


def test_aspect_ratio_defaults_to_auto(bearer) -> None:
    data = generate(bearer, {"generationType": "text_to_video", "prompt": "x"}).json()["data"]
    assert data["aspectRatio"] == "auto"


BAD_BODIES = [
    ({"prompt": "x"}, "generationType"),
    ({"generationType": "video", "prompt": "x"}, "generationType"),
    ({"generationType": "text_to_video"}, "prompt"),
    ({"generationType": "text_to_video", "prompt": "   "}, "prompt"),
    ({"generationType": "text_to_video", "prompt": 42}, "prompt"),
    ({"generationType": "text_to_video", "prompt": "x" * 6000}, "prompt"),
    ({"generationType": "text_to_video", "prompt": "x", "aspectRatio": "4:3"}, "aspectRatio"),
    ({"generationType": "text_to_video", "prompt": "x", "aspectRatio": 16}, "aspectRatio"),
    ({"generationType": "image_to_video", "prompt": "x"}, "imageUrl"),
    (
        {"generationType": "text_to_video", "prompt": "x", "imageUrl": "https://example.com/a.png"},
        "imageUrl",
    ),
    ({"generationType": "image_to_video", "prompt": "x", "imageUrls": "nope"}, "imageUrls"),
    (
        {
            "generationType": "image_to_video",
            "prompt": "x",
            "imageUrls": ["https://a.example/1.png"] * 3,
        },
        "imageUrls",
    ),
    ({"generationType": "image_to_video", "prompt": "x", "imageKey": "img_0000"}, "imageKey"),
    (
        {"generationType": "image_to_video", "prompt": "x", "imageUrl": "http://127.0.0.1/a.png"},
        "imageUrl",
    ),
    (
        {"generationType": "image_to_video", "prompt": "x", "imageUrl": "ftp://example.com/a.png"},
        "imageUrl",
    ),
    (
        {
            "generationType": "text_to_video",
            "prompt": "x",
            "callbackUrl": "http://169.254.169.254/latest",
        },
        "callbackUrl",
    ),
    ({"generationType": "text_to_video", "prompt": "x", "callbackUrl": "not a url"}, "callbackUrl"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_is_1000_naming_the_field_and_changes_nothing(bearer, body, field) -> None:
    response = generate(bearer, body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == 1000
    assert field in payload["msg"]
    assert payload["data"] is None
    assert not Job.objects.exists()
    assert balance_get(user=bearer.user).available == 1000


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_body_is_1000(bearer, raw: bytes) -> None:
    response = bearer.post("/api/generate-video", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == 1000
    assert not Job.objects.exists()


def test_missing_key_is_1002(client) -> None:
    response = client.post("/api/generate-video", {}, content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"code": 1002, "msg": "Authentication failed", "data": None}


@pytest.mark.parametrize("header", ["Bearer vsk_nope", "Bearer", "Basic abc", "vsk_x"])
def test_invalid_key_is_1002(client, header: str) -> None:
    response = client.get("/api/video-status/x", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == 1002


def test_insufficient_credits_is_1001_with_required_and_current(db) -> None:
    from rest_framework.test import APIClient

    from accounts.services import api_key_create
    from billing.services import credits_grant

    user = UserFactory()
    credits_grant(user=user, amount=3, idempotency_key="poor")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user).token}")
    response = generate(client, {"generationType": "text_to_video", "prompt": "x"})
    assert response.status_code == 402
    assert response.json() == {
        "code": 1001,
        "msg": "Insufficient credits",
        "data": {"required": price(), "current": 3},
    }
    assert not Job.objects.exists()
    assert not Transfer.objects.filter(kind="hold").exists()


def test_rate_limit_is_1003_with_retry_after(bearer, settings) -> None:
    settings.GENERATION_RATE_LIMIT = 2
    body = {"generationType": "text_to_video", "prompt": "x"}
    assert generate(bearer, body).json()["code"] == 0
    assert generate(bearer, body).json()["code"] == 0
    response = generate(bearer, body)
    assert response.status_code == 429
    assert response.json()["code"] == 1003
    assert int(response["Retry-After"]) >= 1
    assert Job.objects.count() == 2


def test_concurrent_job_cap_is_1003(bearer, settings) -> None:
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    body = {"generationType": "text_to_video", "prompt": "x"}
    assert generate(bearer, body).json()["code"] == 0
    response = generate(bearer, body)
    assert response.status_code == 429 and response.json()["code"] == 1003
    assert Job.objects.count() == 1


def test_status_of_a_queued_job(bearer) -> None:
    uuid = generate(bearer, {"generationType": "text_to_video", "prompt": "x"}).json()["data"][
        "uuid"
    ]
    data = bearer.get(f"/api/video-status/{uuid}").json()["data"]
    assert data["uuid"] == uuid
    assert data["status"] == "pending"
    assert data["videoUrl"] is None
    assert data["progress"] == 0
    assert isinstance(data["estimatedTime"], int) and data["estimatedTime"] > 0
    assert data["successFlag"] == 0


@pytest.mark.parametrize("value", ["video-uuid-123", "00000000-0000-0000-0000-000000000000"])
def test_unknown_uuid_is_1000_404(bearer, value: str) -> None:
    response = bearer.get(f"/api/video-status/{value}")
    assert response.status_code == 404
    assert response.json() == {"code": 1000, "msg": "Video not found", "data": None}


def test_another_accounts_job_answers_like_an_unknown_one(bearer) -> None:
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    uuid = generate(bearer, {"generationType": "text_to_video", "prompt": "x"}).json()["data"][
        "uuid"
    ]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=UserFactory()).token}")
    response = other.get(f"/api/video-status/{uuid}")
    assert response.status_code == 404
    assert response.json() == {"code": 1000, "msg": "Video not found", "data": None}


def test_upload_then_image_to_video_by_key_and_by_url(bearer) -> None:
    png = SimpleUploadedFile("photo.png", image_bytes("PNG", (640, 360)), "image/png")
    response = bearer.post("/api/upload-video-image", {"file": png}, format="multipart")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "Upload successful"
    key, url = body["data"]["imageKey"], body["data"]["imageUrl"]
    assert url.endswith(".png") and key.startswith("img_")
    upload = Upload.objects.get()
    assert (upload.width, upload.height, upload.mime_type) == (640, 360, "image/png")
    by_key = generate(
        bearer, {"generationType": "image_to_video", "prompt": "x", "imageKey": key}
    ).json()
    by_url = generate(
        bearer, {"generationType": "image_to_video", "prompt": "x", "imageUrl": url}
    ).json()
    for body in (by_key, by_url):
        job = Job.objects.get(pk=body["data"]["uuid"])
        assert job.mode == "image"
        assert job.image_refs == [{"upload": str(upload.id)}]
    two = generate(
        bearer, {"generationType": "image_to_video", "prompt": "x", "imageUrls": [url, url]}
    ).json()
    assert Job.objects.get(pk=two["data"]["uuid"]).mode == "first_last"
    # The uploaded image is served back from its URL.
    served = bearer.get(url.replace("http://testserver", ""))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"


def test_upload_sniffs_type_from_bytes_not_name(bearer) -> None:
    jpeg = SimpleUploadedFile("looks.png", image_bytes("JPEG"), "image/png")
    body = bearer.post("/api/upload-video-image", {"file": jpeg}, format="multipart").json()
    assert body["code"] == 0
    assert body["data"]["imageUrl"].endswith(".jpg")


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"%PDF-1.4 fake", "doc.pdf"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a.svg"),
        (b"GIF89a" + b"\x00" * 20, "a.gif"),
        (b"", "empty.png"),
    ],
)
def test_upload_rejects_non_images(bearer, content: bytes, name: str) -> None:
    upload = SimpleUploadedFile(name, content)
    response = bearer.post("/api/upload-video-image", {"file": upload}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 1000 and "file" in body["msg"]
    assert not Upload.objects.exists()


def test_upload_needs_a_file(bearer) -> None:
    response = bearer.post("/api/upload-video-image", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["msg"]


def test_upload_size_cap(bearer, settings) -> None:
    settings.GENERATION_UPLOAD_MAX_BYTES = 1000
    big = SimpleUploadedFile("big.png", image_bytes("PNG", (800, 800)), "image/png")
    response = bearer.post("/api/upload-video-image", {"file": big}, format="multipart")
    assert response.status_code == 400 and "larger" in response.json()["msg"]
    assert not Upload.objects.exists()


def test_idempotency_key_replays_and_refuses_a_different_body(bearer) -> None:
    body = {"generationType": "text_to_video", "prompt": "same"}
    first = generate(bearer, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    second = generate(bearer, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert first["data"]["uuid"] == second["data"]["uuid"]
    assert Job.objects.count() == 1
    assert Transfer.objects.filter(kind="hold").count() == 1
    other = generate(bearer, {**body, "prompt": "different"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409 and other.json()["code"] == 1000
    assert Job.objects.count() == 1


def test_errors_can_be_http_200(bearer, settings) -> None:
    settings.VEO3O1_HTTP_ERROR_STATUS = False
    response = generate(bearer, {"prompt": "x"})
    assert response.status_code == 200 and response.json()["code"] == 1000


def test_unknown_api_path_is_a_json_404(bearer) -> None:
    response = bearer.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.json()["code"] == 1000


def test_image_url_whose_host_does_not_resolve_is_1000(bearer, monkeypatch) -> None:
    import socket

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    response = generate(
        bearer,
        {
            "generationType": "image_to_video",
            "prompt": "x",
            "imageUrl": "https://no-such-host.example/a.png",
        },
    )
    assert response.status_code == 400
    assert response.json()["code"] == 1000 and "imageUrl" in response.json()["msg"]
    assert not Job.objects.exists()
