from django.urls import path, re_path

from generation import delivery
from generation.facades import codefast, events, kie_uploads, veo3api, veo3api_media, veo3o1
from generation.facades.openai_videos import views as openai_videos

urlpatterns = [
    # First: the path clients poll (patterns are tried in order).
    path("api/video-status/<str:uuid>", veo3o1.VideoStatusApi.as_view(), name="veo3o1-status"),
    # OpenAI-style Videos API (generation/facades/openai_videos). `extensions` before the ids;
    # any id string is taken (an unknown or malformed one is the facade's 404, not HTML).
    path("v1/videos", openai_videos.VideosApi.as_view(), name="openai-videos"),
    path(
        "v1/videos/extensions",
        openai_videos.VideoExtensionsApi.as_view(),
        name="openai-video-extensions",
    ),
    re_path(
        r"^v1/videos/(?P<video_id>[^/]+)$", openai_videos.VideoApi.as_view(), name="openai-video"
    ),
    re_path(
        r"^v1/videos/(?P<video_id>[^/]+)/content$",
        openai_videos.VideoContentApi.as_view(),
        name="openai-video-content",
    ),
    re_path(
        r"^v1/videos/(?P<video_id>[^/]+)/remix$",
        openai_videos.VideoRemixApi.as_view(),
        name="openai-video-remix",
    ),
    re_path(
        r"^v1/videos/(?P<video_id>[^/]+)/cancel$",
        openai_videos.VideoCancelApi.as_view(),
        name="openai-video-cancel",
    ),
    # Permanent media URLs (unguessable ids).
    path("media/v/<uuid:job_id>.mp4", delivery.media_video, name="media-video"),
    path("media/v/<uuid:job_id>.jpg", delivery.media_poster, name="media-poster"),
    path("media/u/<uuid:upload_id>.<str:ext>", delivery.media_upload, name="media-upload"),
    # The whole video of an extension (kie fullResultUrls), and 20-minute download links.
    path(
        "media/v/<uuid:job_id>/full.mp4", veo3api_media.media_full_video, name="veo3api-full-video"
    ),
    path("media/d/<str:token>", veo3api_media.media_download, name="veo3api-download"),
    # Live status streams (async views; veosaas/asgi.py routes these paths to Django's ASGI
    # handler, keep its EVENT_PATHS in step).
    path("api/v1/jobs/<str:job_id>/events", events.job_events, name="job-events"),
    path("v1/videos/<str:video>/events", events.video_events, name="video-events"),
    # veo3o1 (contracts/veo3o1.md)
    path("api/generate-video", veo3o1.GenerateVideoApi.as_view(), name="veo3o1-generate"),
    path("api/upload-video-image", veo3o1.UploadVideoImageApi.as_view(), name="veo3o1-upload"),
    # codefast (contracts/codefast.md): at the root like the vendor. Only these exact paths, so
    # /admin/, /api/..., /media/... and /healthz are untouched; `/` without a key and with an
    # HTML Accept header redirects browsers to the dashboard. Any job id string is accepted
    # (a malformed one is codefast's 404 "Job not found", not an HTML page).
    path("", codefast.root, name="codefast-root"),
    path("generate", codefast.GenerateApi.as_view(), name="codefast-generate"),
    re_path(r"^status/(?P<job_id>[\s\S]*)$", codefast.StatusApi.as_view(), name="codefast-status"),
    path("videos", codefast.VideosApi.as_view(), name="codefast-videos"),
    # veo3api.ai / kie.ai (contracts/veo3api.md)
    path("api/v1/veo/generate", veo3api.GenerateApi.as_view(), name="veo3api-generate"),
    path("api/v1/veo/record-info", veo3api.RecordInfoApi.as_view(), name="veo3api-record-info"),
    path("api/v1/veo/get-1080p-video", veo3api.Get1080pVideoApi.as_view(), name="veo3api-1080p"),
    path("api/v1/veo/get-4k-video", veo3api.Get4kVideoApi.as_view(), name="veo3api-4k"),
    path("api/v1/veo/extend", veo3api.ExtendApi.as_view(), name="veo3api-extend"),
    path("api/v1/common/credit", veo3api.CreditApi.as_view(), name="veo3api-credit"),
    path("api/v1/chat/credit", veo3api.CreditApi.as_view(), name="kie-credit"),
    path(
        "api/v1/common/download-url", veo3api.DownloadUrlApi.as_view(), name="veo3api-download-url"
    ),
    # kie File Upload API (contracts/veo3api.md §7.3)
    path(
        "api/file-stream-upload",
        kie_uploads.FileStreamUploadApi.as_view(),
        name="kie-file-stream-upload",
    ),
    path(
        "api/file-base64-upload",
        kie_uploads.FileBase64UploadApi.as_view(),
        name="kie-file-base64-upload",
    ),
    path("api/file-url-upload", kie_uploads.FileUrlUploadApi.as_view(), name="kie-file-url-upload"),
]
