"""The S3 path against a local S3-compatible server (moto in server mode, on 127.0.0.1):
uploads and results land in the bucket; permanent URLs redirect to working signed URLs."""

from __future__ import annotations

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer

from generation.models import Job
from generation.services import JobSpec, job_run, job_submit
from tests.generation.conftest import image_bytes
from tests.processes import free_port

pytestmark = pytest.mark.django_db

BUCKET = "veosaas-media"


@pytest.fixture
def s3(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 600,
                "file_overwrite": False,
            },
        },
    }
    settings.MEDIA_DELIVERY = "redirect"
    yield client
    server.stop()


def keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_upload_and_result_live_in_s3_and_urls_redirect_to_signed_urls(s3, bearer) -> None:
    png = SimpleUploadedFile("p.png", image_bytes("PNG", (640, 360)), "image/png")
    body = bearer.post("/api/upload-video-image", {"file": png}, format="multipart").json()
    assert body["code"] == 0
    assert any(k.startswith("uploads/") for k in keys(s3))

    job = job_submit(
        user=bearer.user,
        spec=JobSpec(facade="veo3o1", prompt="into the bucket", duration_seconds=4),
    ).job
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.video_file in keys(s3) and job.poster_file in keys(s3)

    for path, content_type in (
        (f"/media/v/{job.id}.mp4", "video/mp4"),
        (f"/media/v/{job.id}.jpg", "image/jpeg"),
    ):
        response = bearer.get(path)
        assert response.status_code == 302
        signed = response["Location"]
        assert signed.startswith(f"http://127.0.0.1:{s3.meta.endpoint_url.rsplit(':', 1)[1]}")
        assert "Signature=" in signed or "X-Amz-Signature=" in signed
        fetched = requests.get(signed, timeout=10)
        assert fetched.status_code == 200
        key = job.video_file if content_type == "video/mp4" else job.poster_file
        assert fetched.content == s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    served = bearer.get(body["data"]["imageUrl"].replace("http://testserver", ""))
    assert served.status_code == 302
    assert requests.get(served["Location"], timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"
