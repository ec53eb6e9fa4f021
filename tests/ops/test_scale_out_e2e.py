"""Scale-out: two web processes and two worker processes on separate ports, against one
PostgreSQL, one broker and one S3 (a moto server), on Redis and on RabbitMQ.

A batch submitted through both webs runs exactly once per job, on both workers, each job
charged once (one hold, one capture) and called back once; results land in the bucket and
the permanent URL of either web redirects to them.

Brokers: TEST_REDIS_BROKER_URL (default redis://127.0.0.1:6379/7) and TEST_AMQP_BROKER_URL
(default: a vhost of its own on amqp://guest:guest@127.0.0.1:5672, created with rabbitmqctl
when it is on the PATH, else the default vhost). A broker that does not answer skips its run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from django.db import connection
from kombu import Connection
from moto.server import ThreadedMotoServer

from accounts.services import api_key_create
from billing.models import Transfer
from billing.services import credits_grant
from generation.models import Job
from outbound.models import Delivery
from tests.factories import UserFactory
from tests.generation.veo3api_helpers import receiver_running
from tests.processes import Stack, free_port, process_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

BUCKET = "veosaas-scale-out"
JOBS = 6


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def amqp_vhost() -> Iterator[str]:
    """A RabbitMQ vhost for this run only (so no other test run's workers share its queues)."""
    configured = os.environ.get("TEST_AMQP_BROKER_URL")
    if configured:
        yield configured
        return
    ctl = shutil.which("rabbitmqctl")
    vhost = f"veosaas_test_{uuid.uuid4().hex[:8]}"
    made = False
    if ctl:
        made = (
            subprocess.run([ctl, "add_vhost", vhost], capture_output=True, timeout=60).returncode
            == 0
            and subprocess.run(
                [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                capture_output=True,
                timeout=60,
            ).returncode
            == 0
        )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost if made else ''}"
    finally:
        if made and ctl:
            subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


@contextlib.contextmanager
def broker(kind: str) -> Iterator[str]:
    if kind == "redis":
        url = os.environ.get("TEST_REDIS_BROKER_URL", "redis://127.0.0.1:6379/7")
        if not _answers(url):
            pytest.skip(f"Redis does not answer at {url}")
        yield url
        return
    if not _answers(os.environ.get("TEST_AMQP_BROKER_URL", "amqp://127.0.0.1:5672")):
        pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672")
    with amqp_vhost() as url:
        yield url


def purge(url: str) -> None:
    with Connection(url) as conn:
        channel = conn.default_channel
        for queue in ("generation", "callbacks", "default"):
            with contextlib.suppress(Exception):
                channel.queue_purge(queue)


@pytest.fixture
def bucket() -> Iterator[tuple[str, Any]]:
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
    yield endpoint, client
    server.stop()


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_two_webs_two_workers_run_every_job_exactly_once(kind, bucket, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    endpoint, s3 = bucket
    user = UserFactory()
    credits_grant(user=user, amount=5000, idempotency_key=f"scale:{user.pk}")
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='scale').token}"}
    with broker(kind) as broker_url, receiver_running() as receiver:
        purge(broker_url)
        env = process_env(
            CELERY_BROKER_URL=broker_url,
            STORAGE_BACKEND="s3",
            AWS_STORAGE_BUCKET_NAME=BUCKET,
            AWS_S3_ENDPOINT_URL=endpoint,
            AWS_S3_REGION_NAME="us-east-1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",
            GENERATION_PROVIDER="scripted",
            GENERATION_TEST_DELAY_SECONDS="1",
            # Only the submitted jobs: no 1080p versions prepared on success.
            GENERATION_AUTO_1080P="0",
            LOG_FORMAT="text",
        )
        stack = Stack(env, tmp_path)
        try:
            webs = [stack.start_web("web1"), stack.start_web("web2", port=free_port())]
            stack.start_worker("worker1", concurrency=1)
            stack.start_worker("worker2", concurrency=1)
            task_ids = []
            for index in range(JOBS):
                answer = requests.post(
                    f"{webs[index % 2]}/api/v1/veo/generate",
                    headers=headers,
                    json={
                        "prompt": f"scale out {index}",
                        "model": "veo3_fast",
                        "duration": 4,
                        "callBackUrl": receiver.url("/kie"),
                    },
                    timeout=30,
                ).json()
                assert answer["code"] == 200, answer
                task_ids.append(answer["data"]["taskId"])
            job_ids = [uuid.UUID(task_id.removeprefix("veo_task_")) for task_id in task_ids]
            receiver.wait_for(JOBS, timeout=300)
            time.sleep(1)  # a duplicate run or callback would show up by now
            logs = {name: stack.log(name) for name in ("worker1", "worker2")}
            media = requests.get(
                f"{webs[1]}/media/v/{job_ids[0]}.mp4", allow_redirects=False, timeout=30
            )
        finally:
            stack.stop()
            purge(broker_url)

    jobs = Job.objects.filter(pk__in=job_ids)
    assert {job.state for job in jobs} == {Job.State.SUCCEEDED}
    assert {job.attempts for job in jobs} == {1}
    ran_on: dict[uuid.UUID, list[str]] = {job_id: [] for job_id in job_ids}
    for name, log in logs.items():
        for match in re.finditer(r"job ([0-9a-f-]{36}) running on", log):
            ran_on[uuid.UUID(match.group(1))].append(name)
    assert all(len(workers) == 1 for workers in ran_on.values()), ran_on
    assert {workers[0] for workers in ran_on.values()} == {"worker1", "worker2"}
    for job_id in job_ids:
        transfers = Transfer.objects.filter(job_id=job_id)
        assert sorted(t.kind for t in transfers) == ["capture", "hold"]
    assert Delivery.objects.filter(reference__in=[j.hex for j in job_ids]).count() == JOBS
    assert sorted(r.json["data"]["taskId"] for r in receiver.received) == sorted(task_ids)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert {job.video_file for job in jobs} <= keys
    assert media.status_code == 302 and media.headers["Location"].startswith(endpoint)
