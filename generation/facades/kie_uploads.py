"""kie's File Upload API (contracts/veo3api.md §7.3): stream, base64 and URL uploads.

Bearer auth; the answer is `{success, code, msg, data}` with the union of the documented
`data` fields (README A14). Files are kept 3 days (`expiresAt`). Only images are accepted
(JPEG, PNG, WebP, sniffed from the bytes; at most VEO3API_UPLOAD_MAX_BYTES, 10 MB by
default): uploads exist to be passed as `imageUrls`, and veo3api.ai allows images up to 10 MB.
Errors use the upload API's codes: 400 bad input (the message names the field), 401, 405, 500.

Differences from kie: `uploadPath` and `fileName` are echoed but do not choose where the
file is stored; every upload gets its own unguessable URL, so the same `fileName` never
overwrites an earlier file.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.typing import AuthenticatedRequest
from generation import images
from generation.delivery import upload_url
from generation.facades.common import FieldError, json_object, optional_str, required_str
from generation.facades.veo3api_base import Veo3ApiView, http_status
from generation.models import Upload
from generation.services import upload_create
from outbound import netguard

MSG_UPLOADED = "File uploaded successfully"
_DATA_URI_RE = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,", re.I)
_FETCH_TIMEOUT_SECONDS = 30.0  # kie: "remote fetch timeout 30 s"
# kie's File Upload API promises its files for 3 days (`expiresAt`), whatever our own default.
KIE_UPLOAD_KEEP_SECONDS = 3 * 24 * 3600


def _iso_ms(moment: Any) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class KieUploadView(Veo3ApiView):
    def render_error(
        self, code: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        # Validation problems are 400 in the upload API (it has no 422).
        code = 400 if code == 422 else code
        return Response(
            {"success": False, "code": code, "msg": msg, "data": data},
            status=http_status(code),
            headers=headers,
        )

    def uploaded(
        self,
        request: Request,
        upload: Upload,
        *,
        upload_path: str,
        file_name: str,
        original_name: str,
    ) -> Response:
        url = upload_url(upload, request)
        name = file_name or original_name or f"{upload.id.hex}.{upload.extension}"
        data = {
            "fileId": upload.key,
            "fileName": name,
            "originalName": original_name or name,
            "filePath": f"{upload_path.strip('/')}/{name}" if upload_path else name,
            "downloadUrl": url,
            "fileUrl": url,
            "fileSize": upload.size,
            "mimeType": upload.mime_type,
            "uploadPath": upload_path,
            "uploadedAt": _iso_ms(upload.created_at),
            "expiresAt": _iso_ms(upload.expires_at) if upload.expires_at else None,
        }
        return Response({"success": True, "code": 200, "msg": MSG_UPLOADED, "data": data})


def _names(fields: Any) -> tuple[str, str]:
    values = {key: fields.get(key) for key in ("uploadPath", "fileName")}
    upload_path = optional_str(values, "uploadPath", max_length=200)
    file_name = optional_str(values, "fileName", max_length=255)
    if "\\" in file_name or "/" in file_name:
        raise FieldError("fileName", "must not contain a path")
    return upload_path, file_name


def _store(
    request: AuthenticatedRequest,
    source: Any,
    field: str,
    *,
    file_name: str,
    origin: str = Upload.Source.UPLOAD,
    source_url: str = "",
) -> Upload:
    try:
        return upload_create(
            user=request.user,
            source=source,
            file_name=file_name,
            max_bytes=settings.VEO3API_UPLOAD_MAX_BYTES,
            origin=origin,
            source_url=source_url,
            keep_seconds=KIE_UPLOAD_KEEP_SECONDS,
        )
    except images.ImageRejected as exc:
        raise FieldError(field, str(exc)) from exc


def _limit_text() -> str:
    return f"{settings.VEO3API_UPLOAD_MAX_BYTES // (1024 * 1024)} MB"


class FileStreamUploadApi(KieUploadView):
    """POST /api/file-stream-upload (multipart/form-data: file, uploadPath, fileName)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        uploaded = request.FILES.get("file")
        if uploaded is None:
            raise FieldError("file", "is required (multipart/form-data field 'file')")
        upload_path, file_name = _names(request.data)
        if (uploaded.size or 0) > settings.VEO3API_UPLOAD_MAX_BYTES:  # unknown: bounded on read
            raise FieldError("file", f"is larger than {_limit_text()}")
        original = (uploaded.name or "")[:255]
        upload = _store(request, uploaded.file, "file", file_name=file_name or original)
        return self.uploaded(
            request, upload, upload_path=upload_path, file_name=file_name, original_name=original
        )


class FileBase64UploadApi(KieUploadView):
    """POST /api/file-base64-upload (JSON: base64Data as raw base64 or a data: URI)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        upload_path, file_name = _names(body)
        value = body.get("base64Data")
        if value is None or value == "":
            raise FieldError("base64Data", "is required")
        if not isinstance(value, str):
            raise FieldError("base64Data", "must be a string")
        encoded = _DATA_URI_RE.sub("", value.strip(), count=1)
        encoded = re.sub(r"\s+", "", encoded)
        # Refuse oversize input before decoding it (4 characters carry 3 bytes).
        if len(encoded) * 3 // 4 > settings.VEO3API_UPLOAD_MAX_BYTES + 2:
            raise FieldError("base64Data", f"is larger than {_limit_text()}")
        try:
            data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FieldError("base64Data", "is not valid base64") from exc
        upload = _store(
            request, data, "base64Data", file_name=file_name, origin=Upload.Source.BASE64
        )
        return self.uploaded(
            request, upload, upload_path=upload_path, file_name=file_name, original_name=file_name
        )


class FileUrlUploadApi(KieUploadView):
    """POST /api/file-url-upload (JSON: fileUrl, fetched through the SSRF guard)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        upload_path, file_name = _names(body)
        url = required_str(body, "fileUrl", max_length=netguard.MAX_URL_LENGTH)
        try:
            fetched = netguard.guarded_get(
                url, max_bytes=settings.VEO3API_UPLOAD_MAX_BYTES, timeout=_FETCH_TIMEOUT_SECONDS
            )
        except netguard.BlockedDestination as exc:
            raise FieldError("fileUrl", f"is not an allowed URL ({exc.reason})") from exc
        except netguard.FetchError as exc:
            raise FieldError("fileUrl", f"could not be fetched: {exc}") from exc
        original = url.rsplit("/", 1)[-1].split("?", 1)[0][:255]
        upload = _store(
            request,
            fetched.body,
            "fileUrl",
            file_name=file_name or original,
            origin=Upload.Source.URL,
            source_url=url,
        )
        return self.uploaded(
            request, upload, upload_path=upload_path, file_name=file_name, original_name=original
        )
