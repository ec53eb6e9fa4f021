"""The first cURL example of each API page runs as pasted against a local server (only the
key filled in): no callback URL that needs DNS, no placeholder the reader must invent."""

from __future__ import annotations

import html
import json
import re
import shlex
import subprocess

import pytest
from django.test import Client

from accounts.services import api_key_create
from billing.services import credits_grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

KEY_PLACEHOLDERS = ("YOUR_API_KEY", "your_api_key_here")


def _first_curl(page: str) -> str:
    block = re.search(r"<pre><code>(curl .*?)</code></pre>", page, re.S)
    assert block is not None
    return html.unescape(block.group(1))


@pytest.mark.parametrize(
    ("facade", "succeeded"),
    [
        ("veo3api", lambda body: body["code"] == 200 and body["data"]["taskId"]),
        ("veo3o1", lambda body: body["code"] == 0 and body["data"]["uuid"]),
        ("codefast", lambda body: "running" in body["message"]),
    ],
)
def test_the_first_curl_example_runs_as_pasted(live_server, facade: str, succeeded) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"docs:{user.pk}")
    token = api_key_create(user=user, name="docs").token
    page = Client().get(f"/docs/{facade}/", HTTP_HOST=live_server.url.removeprefix("http://"))
    command = _first_curl(page.content.decode())
    assert "example.com" not in command
    assert live_server.url in command
    for placeholder in KEY_PLACEHOLDERS:
        command = command.replace(placeholder, token)
    argv = shlex.split(command.replace("\\\n", " "))
    result = subprocess.run([*argv, "-s", "--max-time", "30"], capture_output=True, text=True)
    body = json.loads(result.stdout)
    assert succeeded(body), body
