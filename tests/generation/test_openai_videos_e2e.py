"""End to end with the unmodified official `openai` Python SDK against a live server (gunicorn
+ Celery worker, the local renderer): create_and_poll, download_content of every variant (the
MP4 decodes with PyAV), remix, list pagination with `after`, extensions, cancel (a raw request:
the SDK has no cancel method), delete, and errors surfacing as the SDK's typed exceptions.
Credits: captured once per finished video, released for the cancelled ones."""

from __future__ import annotations

import io

import av
import openai
import pytest
from PIL import Image

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant
from generation.facades.openai_videos.shapes import video_id_parse
from generation.models import Job
from tests.factories import UserFactory
from tests.generation.conftest import image_bytes
from tests.processes import running_stack

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    # Every method of the SDK's videos resource is marked deprecated (OpenAI's own service).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _client(base_url: str, credits: int = 5000) -> tuple[openai.OpenAI, object]:
    user = UserFactory()
    if credits:
        credits_grant(user=user, amount=credits, idempotency_key=f"openai-e2e:{user.pk}")
    token = api_key_create(user=user, name="sdk").token
    return openai.OpenAI(api_key=token, base_url=f"{base_url}/v1", max_retries=0), user


def _job(video_id: str) -> Job:
    return Job.objects.get(pk=video_id_parse(video_id))


def test_the_official_sdk_end_to_end(tmp_path) -> None:
    with running_stack(tmp_path) as stack:
        client, user = _client(stack.base_url)

        video = client.videos.create_and_poll(
            prompt="A lighthouse at dusk", model="veo-3.1-fast", seconds="4", size="1280x720"
        )
        assert video.status == "completed", video
        assert (video.progress, video.seconds, video.size) == (100, "4", "1280x720")
        assert video.model == "veo-3.1-fast" and video.completed_at is not None

        mp4 = client.videos.download_content(video.id, variant="video").read()
        with av.open(io.BytesIO(mp4)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 1280, 720)
            assert abs(float(container.duration / av.time_base) - 4) < 0.2
            assert sum(1 for _ in container.decode(stream)) > 0
        thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
        assert Image.open(io.BytesIO(thumbnail)).size == (1280, 720)
        sprites = client.videos.download_content(video.id, variant="spritesheet").read()
        assert Image.open(io.BytesIO(sprites)).format == "JPEG"

        remix = client.videos.remix(video.id, prompt="The same lighthouse at dawn")
        assert remix.remixed_from_video_id == video.id
        remix = client.videos.poll(remix.id)
        assert remix.status == "completed" and remix.prompt == "The same lighthouse at dawn"

        first = client.videos.list(limit=1)
        assert [v.id for v in first.data] == [remix.id] and first.has_more
        assert [v.id for v in client.videos.list(limit=1, after=remix.id).data] == [video.id]
        assert [v.id for v in client.videos.list(limit=1)] == [remix.id, video.id]  # auto-paging
        assert [v.id for v in client.videos.list(order="asc").data] == [video.id, remix.id]

        # An extension is accepted through the extend service; it and an image-to-video job
        # (input_reference uploaded as a file) are then cancelled.
        # (openai 3.63's `videos.extend` refuses a `{"id": ...}` reference before sending it:
        # its file extraction expects a file there. The same request as JSON:)
        extension = client.post(
            "/videos/extensions",
            body={"prompt": "and the sun rises", "seconds": "8", "video": {"id": video.id}},
            cast_to=openai.types.Video,
        )
        assert extension.status in ("queued", "in_progress")
        assert _job(extension.id).kind == "extend"
        image = client.videos.create(
            prompt="slow push in",
            seconds="4",
            input_reference=("frame.png", image_bytes("PNG", (640, 360)), "image/png"),
        )
        assert _job(image.id).mode == "image"
        with pytest.raises(openai.ConflictError):
            client.videos.delete(image.id)  # running: cancel it first
        for pending in (extension, image):
            cancelled = client.post(f"/videos/{pending.id}/cancel", cast_to=openai.types.Video)
            assert cancelled.status == "cancelled" or cancelled.to_dict().get("cancel_requested")
            assert client.videos.retrieve(pending.id).status in ("cancelled", "completed")
        with pytest.raises(openai.ConflictError):
            client.post(f"/videos/{image.id}/cancel", cast_to=openai.types.Video)

        deleted = client.videos.delete(video.id)
        assert deleted.deleted is True and deleted.id == video.id
        with pytest.raises(openai.NotFoundError):
            client.videos.download_content(video.id)
        assert client.videos.retrieve(video.id).status == "completed"  # the record stays

        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve("video_" + "0" * 32)
        with pytest.raises(openai.BadRequestError) as bad:
            client.videos.create(prompt="x", size="1024x1792")
        assert bad.value.body["param"] == "size"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="vsk_nope", base_url=f"{stack.base_url}/v1").videos.list()
        poor, _ = _client(stack.base_url, credits=0)
        with pytest.raises(openai.APIStatusError) as unpaid:
            poor.videos.create(prompt="x")
        assert unpaid.value.status_code == 402

    for finished in (video.id, remix.id):
        assert Transfer.objects.filter(job_id=_job(finished).id, kind="capture").count() == 1
    for pending in (extension.id, image.id):
        job = _job(pending)
        settled = Transfer.objects.filter(job_id=job.id, kind__in=["capture", "release"])
        assert settled.count() == 1
    assert balance_get(user=user).held == 0
