"""`{{ value|zoned }}`: a timestamp in the reader's display zone (activated per request by
veosaas.middleware.DisplayTimeZoneMiddleware) with the zone's name beside it, as
`<time datetime="…">7 Dec 2026, 09:15 <span class="tz">Europe/Istanbul</span></time>`.
Every timestamp on the dashboard and the admin pages goes through it, so none is shown without
its zone. The argument is a Django date format name or string (default SHORT_DATETIME_FORMAT)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def zoned(value: datetime | None, fmt: str = "SHORT_DATETIME_FORMAT") -> SafeString | str:
    if not isinstance(value, datetime):
        return ""
    zone = timezone.get_current_timezone()
    local = timezone.localtime(value, zone) if timezone.is_aware(value) else value
    pattern = get_format(fmt) if fmt.isupper() else fmt
    return format_html(
        '<time datetime="{}">{} <span class="tz">{}</span></time>',
        value.isoformat(),
        date_format(local, pattern),
        timezone.get_current_timezone_name(),
    )
