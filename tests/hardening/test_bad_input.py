"""Bad input across every facade (veo3o1, veo3api/kie, codefast, /api/v1/account): a clear
error in the facade's own format, never a 5xx, and nothing changes (no job, no upload, no
ledger row, no file in storage)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from billing.models import Transfer
from billing.selectors import balance_get
from generation.models import Job, Upload
from outbound.models import Delivery
from tests.generation.conftest import image_bytes

pytestmark = pytest.mark.django_db

DEEP = b'{"prompt": "ok", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def png_bomb() -> bytes:
    """A valid small PNG whose header claims 60000 x 60000 pixels."""
    png = bytearray(image_bytes("PNG", (8, 8)))
    ihdr = png[12:29]  # type + data of the first chunk
    patched = ihdr[:4] + struct.pack(">II", 60_000, 60_000) + ihdr[12:]
    png[12:29] = patched
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(patched)))
    return bytes(png)


def veo3o1_shape(status: int, body: Any) -> bool:
    return 400 <= status < 500 and body["code"] in (1000, 1001, 1002, 1003, 1004)


def veo3api_shape(status: int, body: Any) -> bool:
    return status < 500 and 400 <= body["code"] < 500 and isinstance(body["msg"], str)


def kie_shape(status: int, body: Any) -> bool:
    return status < 500 and body["success"] is False and 400 <= body["code"] < 500


def codefast_shape(status: int, body: Any) -> bool:
    return 400 <= status < 500 and isinstance(body["detail"], str)


def openai_shape(status: int, body: Any) -> bool:
    error = body["error"]
    return 400 <= status < 500 and isinstance(error["message"], str) and "type" in error


def account_shape(status: int, body: Any) -> bool:
    return 400 <= status < 500 and body["code"] == status and body["data"] is None


FACADES: dict[str, tuple[str, str, dict[str, Any], Callable[[int, Any], bool]]] = {
    "veo3o1": (
        "/api/generate-video",
        "bearer",
        {"generationType": "text_to_video", "prompt": "ok"},
        veo3o1_shape,
    ),
    "veo3api": ("/api/v1/veo/generate", "bearer", {"prompt": "ok"}, veo3api_shape),
    "kie-base64": (
        "/api/file-base64-upload",
        "bearer",
        {"base64Data": base64.b64encode(image_bytes()).decode(), "fileName": "a.png"},
        kie_shape,
    ),
    "codefast": ("/generate", "x-api-key", {"prompt": "ok"}, codefast_shape),
    "openai": ("/v1/videos", "bearer", {"prompt": "ok"}, openai_shape),
    "account": (
        "/api/v1/account/alerts",
        "bearer",
        {"metric": "available_below", "threshold": 10},
        account_shape,
    ),
}


def _json(base: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**base, **changes}).encode()


def _raw(base: dict[str, Any], field: str, literal: str) -> bytes:
    """The base body with `field` set to a raw JSON literal (escapes kept as written)."""
    body = json.dumps({k: v for k, v in base.items() if k != field})
    return (body[:-1] + (", " if len(body) > 2 else "") + f'"{field}": {literal}}}').encode()


def _text_field(name: str) -> str:
    return {"kie-base64": "fileName", "account": "metric"}.get(name, "prompt")


def _int_field(name: str) -> str:
    return {
        "veo3o1": "imageKey",  # (veo3o1 has no integer field)
        "veo3api": "seeds",
        "kie-base64": "base64Data",
        "codefast": "duration_seconds",
        "openai": "seed",
        "account": "threshold",
    }[name]


CASES: dict[str, Callable[[str, dict[str, Any]], tuple[bytes, str]]] = {
    "nul in a string": lambda n, b: (_raw(b, _text_field(n), '"a\\u0000b"'), "application/json"),
    "lone surrogate": lambda n, b: (_raw(b, _text_field(n), '"a\\ud800b"'), "application/json"),
    "nul in an unknown field": lambda n, b: (_raw(b, "zzz", '"\\u0000"'), "application/json"),
    "nul in a key": lambda n, b: (_raw(b, "k\\u0000", "1"), "application/json"),
    "deep nesting": lambda n, b: (DEEP, "application/json"),
    "not json": lambda n, b: (b"{", "application/json"),
    "json array": lambda n, b: (b"[]", "application/json"),
    "json string": lambda n, b: (b'"x"', "application/json"),
    "NaN": lambda n, b: (_raw(b, "seed", "NaN"), "application/json"),
    "invalid utf-8": lambda n, b: (b'{"prompt": "\xff\xfe"}', "application/json"),
    "wrong type": lambda n, b: (_json(b, **{_text_field(n): 5}), "application/json"),
    "huge string": lambda n, b: (_json(b, **{_text_field(n): "a" * 300_000}), "application/json"),
    "int --8": lambda n, b: (_json(b, **{_int_field(n): "--8"}), "application/json"),
    "int superscript": lambda n, b: (_json(b, **{_int_field(n): "²"}), "application/json"),
    "int circled": lambda n, b: (_json(b, **{_int_field(n): "①"}), "application/json"),
    "int 5000 digits": lambda n, b: (_json(b, **{_int_field(n): "9" * 5000}), "application/json"),
    "int 5000 digits raw": lambda n, b: (_raw(b, _int_field(n), "9" * 5000), "application/json"),
    "text/plain": lambda n, b: (b"prompt=ok", "text/plain"),
    "too many form fields": lambda n, b: (
        "&".join(f"f{i}=1" for i in range(1100)).encode(),
        "application/x-www-form-urlencoded",
    ),
    "too many files": lambda n, b: _multipart(101),
}


def _multipart(files: int) -> tuple[bytes, str]:
    boundary = "XyZb0undary"
    out = io.BytesIO()
    for i in range(files):
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file{i}"; '
            f'filename="f{i}.png"\r\nContent-Type: image/png\r\n\r\nx\r\n'.encode()
        )
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _headers(kind: str, token: str) -> dict[str, str]:
    if kind == "x-api-key":
        return {"HTTP_X_API_KEY": token}
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _state(user: Any) -> tuple[Any, ...]:
    return (
        balance_get(user=user),
        Job.objects.count(),
        Upload.objects.count(),
        Transfer.objects.count(),
        Delivery.objects.count(),
        media_files(),
    )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("facade", list(FACADES))
def test_bad_input_gets_the_facade_error_and_changes_nothing(account, facade, case) -> None:
    user, token = account
    path, auth, base, shape = FACADES[facade]
    body, content_type = CASES[case](facade, base)
    before = _state(user)
    response = Client(raise_request_exception=False).generic(
        "POST", path, data=body, content_type=content_type, **_headers(auth, token)
    )
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    payload = response.json()
    assert shape(response.status_code, payload), payload
    assert _state(user) == before


@pytest.mark.parametrize("facade", list(FACADES))
def test_a_body_over_the_upload_limit_is_a_facade_413(account, facade, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    user, token = account
    path, auth, base, shape = FACADES[facade]
    before = _state(user)
    for body, content_type in [
        (_json(base, padding="p" * 5_000), "application/json"),
        (f"padding={'p' * 5_000}".encode(), "application/x-www-form-urlencoded"),
    ]:
        response = Client(raise_request_exception=False).generic(
            "POST", path, data=body, content_type=content_type, **_headers(auth, token)
        )
        assert response.status_code < 500, response.content[:300]
        assert shape(response.status_code, response.json()), response.content[:300]
    assert _state(user) == before


def test_kie_nul_file_name_in_a_stream_upload_leaves_no_file(account) -> None:
    user, token = account
    before = _state(user)
    client = Client(raise_request_exception=False)
    for name in ("a\x00b.png", "../a.png"):
        upload = io.BytesIO(image_bytes())
        upload.name = "frame.png"
        response = client.post(
            "/api/file-stream-upload",
            {"file": upload, "fileName": name},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code < 500
        assert kie_shape(response.status_code, response.json()), response.json()
    assert _state(user) == before


def test_decompression_bomb_images_are_refused_everywhere(account) -> None:
    user, token = account
    bomb = png_bomb()
    before = _state(user)
    client = Client(raise_request_exception=False)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    kie = client.post(
        "/api/file-base64-upload",
        {"base64Data": base64.b64encode(bomb).decode()},
        content_type="application/json",
        **bearer,
    )
    assert kie_shape(kie.status_code, kie.json()), kie.json()
    codefast = client.post(
        "/generate",
        {"prompt": "ok", "image": base64.b64encode(bomb).decode()},
        content_type="application/json",
        HTTP_X_API_KEY=token,
    )
    assert codefast_shape(codefast.status_code, codefast.json()), codefast.json()
    upload = io.BytesIO(bomb)
    upload.name = "bomb.png"
    veo = client.post("/api/upload-video-image", {"file": upload}, **bearer)
    assert veo3o1_shape(veo.status_code, veo.json()), veo.json()
    assert _state(user) == before


@pytest.mark.parametrize(
    ("path", "auth", "shape"),
    [
        ("/status/abc%0A", "x-api-key", codefast_shape),
        ("/status/%00", "x-api-key", codefast_shape),
        ("/status/%ED%A0%80", "x-api-key", codefast_shape),
        ("/api/video-status/%00", "bearer", veo3o1_shape),
        ("/api/video-status/abc%0A", "bearer", veo3o1_shape),
        ("/api/v1/veo/record-info?taskId=%00", "bearer", veo3api_shape),
        ("/api/v1/veo/get-1080p-video?taskId=abc&index=%C2%B2", "bearer", veo3api_shape),
        ("/api/v1/veo/get-1080p-video?taskId=abc&index=--8", "bearer", veo3api_shape),
        ("/api/v1/account/alerts/%C2%B2", "bearer", account_shape),
        ("/api/v1/account/usage?from=%00", "bearer", account_shape),
    ],
)
def test_bad_paths_and_query_strings_answer_in_the_facade_format(
    account, path, auth, shape
) -> None:
    _, token = account
    response = Client(raise_request_exception=False).get(path, **_headers(auth, token))
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    assert shape(response.status_code, response.json()), response.json()
