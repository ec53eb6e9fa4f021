"""Job change notifications: what wakes the live status streams (generation/streams.py).

Publishing: `job_snapshot_publish` (generation/snapshots.py, the one place every committed job
change passes through) calls `job_change_announce` right after it stored the new snapshot, under
the snapshot's row lock, so announcements leave in commit order. The message is the job id
alone: a listener re-reads the snapshot, which is always the newest committed state, so a lost,
late or duplicated message can never show an old state. Without REDIS_URL nothing is sent and
streams poll the snapshot instead (GENERATION_EVENTS_POLL_SECONDS).

Listening: one Redis connection per web process (`ChangeHub`, redis.asyncio) subscribes to one
channel and wakes the streams of the jobs named. Every web process receives every change; a
message is a 32-character id, so this stays cheap far beyond the job rates one database takes,
and a stream never waits on a SUBSCRIBE round trip. Pub/sub channels are not per Redis
database, so the channel name carries the database number of REDIS_URL.
https://redis.io/docs/latest/develop/interact/pubsub/
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
import weakref
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)
_last_warning = [0.0]


def _warn(message: str, *args: object) -> None:
    """One warning per 10 s at most (a dead Redis must not flood the log)."""
    now = time.monotonic()
    if now - _last_warning[0] > 10:
        _last_warning[0] = now
        logger.warning(message, *args)


def changes_channel(url: str) -> str:
    import redis

    db = redis.connection.parse_url(url).get("db", 0)
    return f"veosaas:db{db}:job-changes"


@functools.cache
def _publisher(url: str) -> Any:
    import redis

    # Short timeouts, like the cache: a dead Redis delays a publication by a second at most.
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


def job_change_announce(*, job_id: uuid.UUID) -> None:
    """Tell every listening web process that the job's snapshot changed. Never raises: a lost
    announcement only delays the event until the stream's next check (heartbeat)."""
    url = settings.REDIS_URL
    if not url:
        return
    import redis

    try:
        _publisher(url).publish(changes_channel(url), job_id.hex)
    except redis.exceptions.RedisError as exc:
        _warn("job change announcement dropped: %s", exc)


class ChangeHub:
    """The process's one subscription: maps announced job ids to the streams waiting on them.

    `live` is true while the subscription is confirmed; while it is not (Redis down, not
    configured), streams poll the snapshot. Each reconnection wakes every stream once, since
    announcements may have been missed meanwhile.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.channel = changes_channel(url)
        self.live = False
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, job_id: uuid.UUID, event: asyncio.Event) -> None:
        self._waiters.setdefault(job_id.hex, set()).add(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())

    def unwatch(self, job_id: uuid.UUID, event: asyncio.Event) -> None:
        waiters = self._waiters.get(job_id.hex)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[job_id.hex]

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def _listen(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2.0)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.live, delay = True, 0.5
                        self._wake_all()  # changes made while not subscribed
                        continue
                    if message["type"] != "message":
                        continue
                    data = message["data"]
                    key = data.decode() if isinstance(data, bytes) else str(data)
                    for event in self._waiters.get(key, ()):
                        event.set()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                _warn("job change subscription lost, streams poll meanwhile: %s", exc)
            finally:
                self.live = False
                self._wake_all()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChangeHub] = weakref.WeakKeyDictionary()


def change_hub() -> ChangeHub | None:
    """This event loop's hub, or None without REDIS_URL (streams then poll)."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.url != settings.REDIS_URL:
        hub = _hubs[loop] = ChangeHub(settings.REDIS_URL)
    return hub


async def change_hubs_close() -> None:
    """Close the hubs of the running loop (ASGI lifespan shutdown)."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.close()
