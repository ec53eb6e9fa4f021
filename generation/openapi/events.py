"""The live status streams in the schema (plain async views, so no APIView to introspect):
`GET /api/v1/jobs/{id}/events` and `GET /v1/videos/{id}/events` (generation/streams.py)."""

from __future__ import annotations

from generation.facades.jobs import JOB_SCHEMA
from generation.openapi.openai import VIDEO
from generation.openapi.shapes import Schema, integer, nullable, obj, string

TAG_EVENTS = "live status (SSE)"

_STREAM_TEXT = (
    "Server-Sent Events (`text/event-stream`): a `retry:` hint, then one event per change of "
    "the job's status, each with an `id:`; a `: heartbeat` comment every "
    "GENERATION_EVENTS_HEARTBEAT_SECONDS (15); the stream closes after the terminal event, or "
    "after GENERATION_EVENTS_MAX_SECONDS (600), when the client reconnects. Send the last `id:` "
    "seen as `Last-Event-ID` to resume: nothing seen is replayed, the current state is sent if "
    "it differs; a client that already saw the terminal event gets 204 (EventSource stops). "
    "A job of another account answers like an unknown id (404)."
)

_JOB = {
    **JOB_SCHEMA,
    "description": "`data` of each `event: job` (one line of JSON), as GET /api/v1/jobs/{id}.",
}

_VIDEO = {
    **VIDEO,
    "description": "`data` of each `event: video` (one line of JSON), as GET /v1/videos/{id}.",
}

_ENVELOPE_ERROR = obj({"code": integer(), "msg": string(), "data": nullable(obj({}))})
_OPENAI_ERROR = obj(
    {
        "error": obj(
            {
                "message": string(),
                "type": string(),
                "param": nullable(string()),
                "code": nullable(string()),
            }
        )
    }
)


def _operation(
    *, operation_id: str, summary: str, description: str, event: Schema, error: Schema, name: str
) -> Schema:
    def answer(text: str, schema: Schema) -> Schema:
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    return {
        "operationId": operation_id,
        "summary": summary,
        "description": f"{description}\n\n{_STREAM_TEXT}",
        "tags": [TAG_EVENTS],
        "security": [{"bearerApiKey": []}],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": string()},
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": string(),
                "description": "The `id:` of the last event received (resume).",
            },
        ],
        "responses": {
            "200": {
                "description": "The event stream.",
                "content": {
                    "text/event-stream": {
                        # Each event as SSE clients (and schema checkers) parse it.
                        "schema": {
                            "type": "object",
                            "description": "One SSE event; `data` is the JSON in x-event-data.",
                            "properties": {
                                "event": string(),
                                "id": string(),
                                "data": string(),
                                "retry": integer(),
                            },
                        },
                        "x-event-data": event,
                    }
                },
            },
            "204": {"description": "The client already saw the terminal event: stop."},
            "401": answer("Missing or invalid API key.", error),
            "403": answer("The API key lacks the `read` scope.", error),
            "404": answer("No such job for this account.", error),
        },
    }


def document_event_streams(result: Schema) -> None:
    paths = result.setdefault("paths", {})
    paths["/api/v1/jobs/{job_id}/events"] = {
        "get": _operation(
            operation_id="job_events",
            summary="Live status of a job (SSE)",
            description="Our envelope's stream: `Authorization: Bearer <API key>` (read scope) "
            "or the dashboard's session. Each `event: job` carries the job's status.",
            event=_JOB,
            error=_ENVELOPE_ERROR,
            name="job_id",
        )
    }
    paths["/v1/videos/{video_id}/events"] = {
        "get": _operation(
            operation_id="video_events",
            summary="Live status of a video (SSE, OpenAI shape)",
            description="`Authorization: Bearer <API key>` (read scope). Each `event: video` "
            "carries the video object as `GET /v1/videos/{video_id}` answers it; errors in "
            "OpenAI's shape.",
            event=_VIDEO,
            error=_OPENAI_ERROR,
            name="video_id",
        )
    }
