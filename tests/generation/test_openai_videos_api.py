"""The OpenAI-style /v1/videos facade through the Django test client: every endpoint, the video
object, ids across facades, errors in OpenAI's shape, and bad input that changes nothing."""

from __future__ import annotations

import io
import uuid

import av
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import price_quote
from generation.facades.callbacks import callback_render
from generation.facades.openai_videos.shapes import video_id, video_id_parse, video_object
from generation.models import Job, Upload
from generation.snapshots import job_snapshot_get, job_snapshot_publish
from tests.factories import UserFactory
from tests.generation.conftest import enqueued, image_bytes
from tests.generation.test_callbacks import verify
from tests.generation.veo3api_helpers import receiver_running
from tests.hardening.test_bad_input import _state
from veosaas.celery import app as celery_app

pytestmark = pytest.mark.django_db


def create(client, body, fmt="multipart", **headers):
    return client.post("/v1/videos", body, format=fmt, **headers)


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_multipart_create_answers_the_video_object_and_holds(
    bearer, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = create(
            bearer,
            {
                "prompt": "A lighthouse at dusk",
                "model": "veo-3.1-fast",
                "seconds": "4",
                "size": "720x1280",
                "seed": "42",
                "negative_prompt": "blur",
                "audio": "false",
            },
        )
    assert response.status_code == 200, response.content
    video = response.json()
    assert video["object"] == "video" and video["status"] == "queued"
    assert video["progress"] == 0 and video["seconds"] == "4" and video["size"] == "720x1280"
    assert video["model"] == "veo-3.1-fast" and video["prompt"] == "A lighthouse at dusk"
    assert video["error"] is None and video["completed_at"] is None
    assert video["remixed_from_video_id"] is None and isinstance(video["created_at"], int)
    assert response["openai-poll-after-ms"] == "2000"
    job = Job.objects.get(pk=video_id_parse(video["id"]))
    assert video["id"] == f"video_{job.id.hex}"
    assert (job.facade, job.aspect_ratio, job.resolution, job.duration_seconds) == (
        "openai",
        "9:16",
        "720p",
        4,
    )
    assert (job.seed, job.negative_prompt, job.generate_audio) == (42, "blur", False)
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=4, audio=False
    ).credits
    assert balance_get(user=bearer.user).held == price
    assert len(enqueued(callbacks)) == 1


def test_json_create_with_numbers_and_sizes(bearer) -> None:
    response = create(
        bearer,
        {
            "prompt": "x",
            "seconds": 8,
            "size": "1920x1080",
            "model": "quality",
            "person_generation": "allow_adult",
        },
        "json",
    )
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=video_id_parse(response.json()["id"]))
    assert (job.model_tier, job.resolution, job.aspect_ratio) == ("quality", "1080p", "16:9")
    assert job.person_generation == "allow_adult"
    assert response.json()["model"] == "veo-3.1"


def test_input_reference_file_upload_is_the_first_frame(bearer) -> None:
    upload = SimpleUploadedFile("first.png", image_bytes(), content_type="image/png")
    response = create(bearer, {"prompt": "push in", "input_reference": upload})
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=video_id_parse(response.json()["id"]))
    assert job.mode == "image" and job.aspect_ratio == "auto"
    assert Upload.objects.filter(pk=job.image_refs[0]["upload"], user=bearer.user).exists()


def test_input_reference_file_id_and_last_frame(bearer) -> None:
    keys = []
    for color in ((200, 0, 0), (0, 0, 200)):
        file = SimpleUploadedFile("a.png", image_bytes(color=color), content_type="image/png")
        body = bearer.post("/api/upload-video-image", {"file": file}, format="multipart").json()
        keys.append(body["data"]["imageKey"])
    response = bearer.post(
        "/v1/videos",
        {"prompt": "x", "input_reference[file_id]": keys[0], "last_frame[file_id]": keys[1]},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=video_id_parse(response.json()["id"]))
    assert job.mode == "first_last" and len(job.image_refs) == 2


def test_a_refused_submit_with_a_file_leaves_no_upload(bearer) -> None:
    before = _state(bearer.user)
    upload = SimpleUploadedFile("first.png", image_bytes(), content_type="image/png")
    response = create(bearer, {"prompt": "x", "input_reference": upload, "seconds": "5"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "seconds"
    assert _state(bearer.user) == before


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": "x", "size": "1024x1792"}, "size"),
        ({"prompt": "x", "model": "sora-2"}, "model"),
        ({"prompt": "x", "seconds": "12"}, "seconds"),
        ({"prompt": "x", "seconds": "four"}, "seconds"),
        ({"prompt": "x", "seconds": "9" * 5000}, "seconds"),
        ({"prompt": "x", "seed": "9" * 40}, "seed"),
        ({"prompt": "x", "seed": "-1"}, "seed"),
        ({"prompt": "x", "size": "3840x2160", "seconds": "4"}, "seconds"),
        ({"prompt": "x", "audio": "maybe"}, "audio"),
        ({"prompt": "a\x00b"}, "prompt"),
        ({"prompt": "x", "zzz": "\x00"}, "zzz"),
        ({"prompt": "x", "input_reference[file_id]": "img_" + "0" * 32}, "input_reference.file_id"),
        ({"prompt": "x", "last_frame": "https://example.com/a.png"}, "last_frame"),
        ({"prompt": "x", "callback_url": "http://127.0.0.1/x"}, "callback_url"),
    ],
)
def test_bad_input_is_a_400_naming_the_param_and_changes_nothing(bearer, body, param) -> None:
    before = _state(bearer.user)
    response = bearer.post("/v1/videos", body, format="multipart")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["param"] == param and error["type"] == "invalid_request_error", error
    assert _state(bearer.user) == before


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"prompt": "a\\u0000"}', "application/json", 400),
        (b"prompt=x", "text/plain", 415),
        (b"--nope\r\nbroken", "multipart/form-data; boundary=zz", 400),
        (b"garbage", "multipart/form-data", 400),
    ],
)
def test_malformed_bodies_are_openai_errors(bearer, body, content_type, status) -> None:
    before = _state(bearer.user)
    response = Client(raise_request_exception=False).generic(
        "POST",
        "/v1/videos",
        data=body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {bearer.token}",
    )
    assert response.status_code == status, response.content
    error_of(response)
    assert _state(bearer.user) == before


def test_auth_scope_and_credit_errors(bearer, settings) -> None:
    anonymous = Client()
    response = anonymous.get("/v1/videos")
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
    response = anonymous.get("/v1/videos", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    reader = api_key_create(user=bearer.user, name="reader", limits={"scopes": ["read"]}).token
    response = Client().post("/v1/videos", {"prompt": "x"}, HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert response.status_code == 403 and error_of(response)["type"] == "permission_error"
    poor = UserFactory()
    token = api_key_create(user=poor, name="p").token
    response = Client().post("/v1/videos", {"prompt": "x"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 402 and error_of(response)["code"] == "insufficient_credits"
    assert not Job.objects.filter(user=poor).exists()


def test_rate_limit_is_a_429_with_retry_after(bearer, settings) -> None:
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    assert create(bearer, {"prompt": "one"}).status_code == 200
    response = create(bearer, {"prompt": "two"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert error_of(response)["type"] == "rate_limit_error"


def test_idempotency_key_replays_and_refuses_another_body(bearer) -> None:
    first = create(bearer, {"prompt": "x"}, HTTP_IDEMPOTENCY_KEY="k1").json()
    again = create(bearer, {"prompt": "x"}, HTTP_IDEMPOTENCY_KEY="k1").json()
    assert first["id"] == again["id"]
    assert Transfer.objects.filter(kind="hold").count() == 1
    other = create(bearer, {"prompt": "y"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 409 and error_of(other)["param"] == "Idempotency-Key"


def test_retrieve_reads_any_facade_and_hides_other_accounts(bearer) -> None:
    kie = bearer.post("/api/v1/veo/generate", {"prompt": "kie"}, format="json").json()
    task_id = kie["data"]["taskId"]
    job = Job.objects.get(pk=uuid.UUID(task_id.removeprefix("veo_task_")))
    for spelling in (task_id, str(job.id), job.id.hex, video_id(job.id)):
        response = bearer.get(f"/v1/videos/{spelling}")
        assert response.status_code == 200, spelling
        assert response.json()["id"] == video_id(job.id)
        assert response["openai-poll-after-ms"] == "2000"
    # ... and the other way: the video id works on kie's record-info and veo3o1's status.
    for spelling in (str(job.id), video_id(job.id)):
        record = bearer.get(f"/api/v1/veo/record-info?taskId={spelling}").json()
        assert record["data"]["taskId"] == task_id
    stranger = Client(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=UserFactory(), name='s').token}"
    )
    for path in (f"/v1/videos/{video_id(job.id)}", "/v1/videos/video_nope", "/v1/videos/%00"):
        response = stranger.get(path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_completed_video_content_variants_and_delete(
    bearer, finish_with_tiny_video, django_capture_on_commit_callbacks
) -> None:
    video = create(bearer, {"prompt": "x", "seconds": "4"}).json()
    job = Job.objects.get(pk=video_id_parse(video["id"]))
    running = bearer.get(f"/v1/videos/{video['id']}/content")
    assert running.status_code == 409 and error_of(running)["code"] == "video_not_ready"
    with django_capture_on_commit_callbacks(execute=True):
        finish_with_tiny_video(job)
    done = bearer.get(f"/v1/videos/{video['id']}")
    body = done.json()
    assert body["status"] == "completed" and body["progress"] == 100
    assert isinstance(body["completed_at"], int) and "openai-poll-after-ms" not in done
    mp4 = bearer.get(f"/v1/videos/{video['id']}/content", HTTP_ACCEPT="application/binary")
    assert mp4.status_code == 200 and mp4["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(b"".join(mp4.streaming_content))) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    thumb = bearer.get(f"/v1/videos/{video['id']}/content?variant=thumbnail")
    assert b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"
    sprites = bearer.get(f"/v1/videos/{video['id']}/content?variant=spritesheet")
    image = Image.open(io.BytesIO(b"".join(sprites.streaming_content)))
    assert image.format == "JPEG" and image.width == 5 * 256
    bad = bearer.get(f"/v1/videos/{video['id']}/content?variant=gif")
    assert bad.status_code == 400 and error_of(bad)["param"] == "variant"
    with django_capture_on_commit_callbacks(execute=True):
        deleted = bearer.delete(f"/v1/videos/{video['id']}")
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    job.refresh_from_db()
    assert job.video_deleted_at is not None
    from django.core.files.storage import default_storage

    assert not default_storage.exists(job.video_file)
    assert not default_storage.exists(f"videos/sprites/{job.id}.jpg")
    assert Transfer.objects.filter(job_id=job.id, kind="capture").count() == 1
    gone = bearer.get(f"/v1/videos/{video['id']}/content")
    assert gone.status_code == 404
    assert bearer.get(f"/v1/videos/{video['id']}").json()["expires_at"] is not None


def test_delete_of_a_running_video_is_refused(bearer) -> None:
    video = create(bearer, {"prompt": "x"}).json()
    response = bearer.delete(f"/v1/videos/{video['id']}")
    assert response.status_code == 409 and "cancel it first" in error_of(response)["message"]


def test_list_pages_with_after_and_order(bearer) -> None:
    ids = [create(bearer, {"prompt": f"p{i}"}).json()["id"] for i in range(3)]
    page = bearer.get("/v1/videos?limit=2").json()
    assert page["object"] == "list" and [v["id"] for v in page["data"]] == ids[::-1][:2]
    assert page["has_more"] is True and page["first_id"] == ids[2] and page["last_id"] == ids[1]
    rest = bearer.get(f"/v1/videos?limit=2&after={page['last_id']}").json()
    assert [v["id"] for v in rest["data"]] == [ids[0]] and rest["has_more"] is False
    ascending = bearer.get("/v1/videos?order=asc").json()
    assert [v["id"] for v in ascending["data"]] == ids
    for query in ("limit=0", "limit=101", "limit=x", "order=up", "after=video_nope"):
        assert bearer.get(f"/v1/videos?{query}").status_code == 400, query


def test_remix_reuses_the_inputs_with_a_new_prompt(bearer) -> None:
    source = create(bearer, {"prompt": "old", "seconds": "6", "size": "720x1280", "seed": "7"})
    remix = bearer.post(f"/v1/videos/{source.json()['id']}/remix", {"prompt": "new"}, format="json")
    assert remix.status_code == 200, remix.content
    body = remix.json()
    assert body["remixed_from_video_id"] == source.json()["id"] and body["prompt"] == "new"
    job = Job.objects.get(pk=video_id_parse(body["id"]))
    assert (job.duration_seconds, job.aspect_ratio, job.seed) == (6, "9:16", 7)
    assert (
        video_object(job_snapshot_get(user_id=bearer.user.pk, job_id=job.id))[
            "remixed_from_video_id"
        ]
        == source.json()["id"]
    )
    missing = bearer.post(f"/v1/videos/{source.json()['id']}/remix", {}, format="json")
    assert missing.status_code == 400 and error_of(missing)["param"] == "prompt"


def test_extensions_of_a_completed_video(bearer, finish_with_tiny_video) -> None:
    source = create(bearer, {"prompt": "x"}).json()
    not_ready = bearer.post(
        "/v1/videos/extensions", {"prompt": "more", "video[id]": source["id"]}, format="multipart"
    )
    assert not_ready.status_code == 409
    finish_with_tiny_video(Job.objects.get(pk=video_id_parse(source["id"])))
    response = bearer.post(
        "/v1/videos/extensions",
        {"prompt": "more", "seconds": "8", "video[id]": source["id"]},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=video_id_parse(response.json()["id"]))
    assert job.kind == "extend" and job.facade == "openai" and job.parent_id is not None
    json_body = {"prompt": "more", "video": {"id": "video_" + "0" * 32}}
    assert bearer.post("/v1/videos/extensions", json_body, format="json").status_code == 404
    wrong = bearer.post(
        "/v1/videos/extensions",
        {"prompt": "m", "seconds": 4, "video": {"id": source["id"]}},
        format="json",
    )
    assert wrong.status_code == 400 and error_of(wrong)["param"] == "seconds"


def test_cancel_a_queued_video_releases_and_a_second_cancel_is_409(bearer) -> None:
    video = create(bearer, {"prompt": "x"}).json()
    response = bearer.post(f"/v1/videos/{video['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["error"]["code"] == "cancelled"
    assert balance_get(user=bearer.user).held == 0
    again = bearer.post(f"/v1/videos/{video['id']}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "video_already_ended"
    reader = api_key_create(user=bearer.user, name="r", limits={"scopes": ["read"]}).token
    forbidden = Client().post(
        f"/v1/videos/{video['id']}/cancel", HTTP_AUTHORIZATION=f"Bearer {reader}"
    )
    assert forbidden.status_code == 403


def test_cancel_of_a_running_upstream_job_says_cancel_requested(bearer) -> None:
    video = create(bearer, {"prompt": "x"}).json()
    pk = video_id_parse(video["id"])
    # Running upstream on a provider without a cancel endpoint (Veo on Vertex AI).
    Job.objects.filter(pk=pk).update(state="running", provider="vertex", provider_operation="op")
    job_snapshot_publish(job_id=pk)
    response = bearer.post(f"/v1/videos/{video['id']}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress" and body["cancel_requested"] is True
    assert Job.objects.get(pk=pk).state == "running"
    assert balance_get(user=bearer.user).held > 0  # settled by what the provider reports
    job_snapshot_publish(job_id=pk)
    assert bearer.get(f"/v1/videos/{video['id']}").json()["cancel_requested"] is True


def test_list_leaves_out_upgrades_and_accepts_upstream_model_ids(bearer, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"quality": "vertex"}
    response = create(bearer, {"prompt": "x", "model": settings.VERTEX_MODEL_QUALITY})
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "veo-3.1"
    ids = [v["id"] for v in bearer.get("/v1/videos").json()["data"]]
    assert ids == [response.json()["id"]]


def test_callback_is_an_openai_style_event_signed_like_every_callback(
    bearer, settings, django_capture_on_commit_callbacks, finish_with_tiny_video
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with receiver_running() as receiver:
            video = create(bearer, {"prompt": "x", "callback_url": receiver.url()}).json()
            job = Job.objects.get(pk=video_id_parse(video["id"]))
            with django_capture_on_commit_callbacks(execute=True):
                job = finish_with_tiny_video(job)
            (received,) = receiver.wait_for(1)
    finally:
        celery_app.conf.task_always_eager = previous
    secret = get_user_model().objects.get(pk=bearer.user.pk).webhook_secret
    body = verify(received, secret, video["id"])
    assert body["type"] == "video.completed" and body["object"] == "event"
    assert body["id"] == f"evt_{job.id.hex}"
    assert body["data"]["id"] == video["id"] and body["data"]["status"] == "completed"
    assert callback_render(job) == (video["id"], body)
    assert Transfer.objects.filter(job_id=job.id, kind="capture").count() == 1


def test_unknown_v1_paths_answer_json(bearer) -> None:
    response = bearer.get("/v1/videos/a/b/c")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_the_sprite_sheet_is_kept_with_its_video_and_swept_without_it(
    bearer, settings, finish_with_tiny_video, django_capture_on_commit_callbacks
) -> None:
    from django.core.files.storage import default_storage

    from generation.services.storage import storage_sweep

    settings.STORAGE_ORPHAN_MIN_AGE_SECONDS = 0
    video = create(bearer, {"prompt": "x"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        job = finish_with_tiny_video(Job.objects.get(pk=video_id_parse(video["id"])))
    response = bearer.get(f"/v1/videos/{video['id']}/content?variant=spritesheet")
    assert response.status_code == 200
    name = f"videos/sprites/{job.id}.jpg"
    again = bearer.get(f"/v1/videos/{video['id']}/content?variant=spritesheet")
    assert b"".join(again.streaming_content) == b"".join(response.streaming_content)
    storage_sweep()
    assert default_storage.exists(name)  # its video is live: not an orphan
    Job.objects.filter(pk=job.pk).update(video_deleted_at=job.completed_at)
    storage_sweep()
    assert not default_storage.exists(name)  # the video's files went: so does its sprite sheet
