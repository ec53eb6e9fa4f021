"""`/metrics`: every process's samples on this machine, plus gauges read at scrape time.

Protected by METRICS_TOKEN (`Authorization: Bearer <token>`); without a token only direct
loopback requests are answered (no X-Forwarded-For: nothing that came through the proxy).
404 unless METRICS_ENABLED.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from veosaas import metrics

logger = logging.getLogger(__name__)
_LOOPBACK = {"127.0.0.1", "::1"}


def process_registry() -> CollectorRegistry:
    """The samples of every process writing to PROMETHEUS_MULTIPROC_DIR (else this one's)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _ScrapeCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for source in metrics.scrape_sources():
            try:
                gauges = source()
            except Exception:  # a dead database must not take the process metrics with it
                logger.exception("metrics source %s failed", source.__name__)
                continue
            for name, documentation, labels, values in gauges:
                family = GaugeMetricFamily(name, documentation, labels=labels)
                for label_values, value in values.items():
                    family.add_metric(list(label_values), value)
                yield family


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    return request.META.get("REMOTE_ADDR") in _LOOPBACK and not request.headers.get(
        "X-Forwarded-For"
    )


@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404("metrics are off")
    if not _allowed(request):
        response = HttpResponse("metrics need a bearer token\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_ScrapeCollector())
    body = generate_latest(process_registry()) + generate_latest(scraped)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
