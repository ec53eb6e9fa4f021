from django.urls import path

from generation import delivery
from generation.facades import veo3o1

urlpatterns = [
    # Permanent media URLs (unguessable ids).
    path("media/v/<uuid:job_id>.mp4", delivery.media_video, name="media-video"),
    path("media/v/<uuid:job_id>.jpg", delivery.media_poster, name="media-poster"),
    path("media/u/<uuid:upload_id>.<str:ext>", delivery.media_upload, name="media-upload"),
    # veo3o1 (contracts/veo3o1.md)
    path("api/generate-video", veo3o1.GenerateVideoApi.as_view(), name="veo3o1-generate"),
    path("api/video-status/<str:uuid>", veo3o1.VideoStatusApi.as_view(), name="veo3o1-status"),
    path("api/upload-video-image", veo3o1.UploadVideoImageApi.as_view(), name="veo3o1-upload"),
]
