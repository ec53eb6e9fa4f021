"""The OpenAI-style Videos API at `/v1/videos` (the shape of OpenAI's Videos API, which the
official `openai` SDKs and the video gateways speak): Bearer API keys, the video object,
OpenAI's error envelope `{"error": {message, type, param, code}}` with real HTTP statuses.

Modules: `shapes` (ids, the video object, size and model vocabulary: pure, importable by any
view that renders a job the OpenAI way), `base` (errors, refusal table, base view, body
parsing), `create` (POST /v1/videos, remix, extensions), `views` (retrieve, list, delete,
content, cancel).
"""
