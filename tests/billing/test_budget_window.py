"""The budget period window is remembered between submits (no calendar work per hold) and
still rolls over exactly at the business zone's midnight, in both directions of time and
when the zone setting changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.usage import LIFETIME_START, budget_period_start


def test_the_remembered_window_rolls_over_at_the_business_midnight(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Istanbul"  # UTC+3
    midnight = datetime(2026, 2, 28, 21, 0, tzinfo=UTC)  # 1 March 00:00 in Istanbul
    before = midnight - timedelta(microseconds=1)
    for _ in range(2):  # the second pass answers from the remembered windows
        assert budget_period_start(period="day", now=before) == datetime(
            2026, 2, 27, 21, 0, tzinfo=UTC
        )
        assert budget_period_start(period="day", now=midnight) == midnight
        assert budget_period_start(period="month", now=before) == datetime(
            2026, 1, 31, 21, 0, tzinfo=UTC
        )
        assert budget_period_start(period="month", now=midnight) == midnight
        # 1 March 2026 is a Sunday: the week started on Monday 23 February.
        assert budget_period_start(period="week", now=midnight) == datetime(
            2026, 2, 22, 21, 0, tzinfo=UTC
        )
        assert budget_period_start(period="week", now=midnight + timedelta(days=1)) == (
            midnight + timedelta(days=1)
        )
    assert budget_period_start(period="lifetime", now=midnight) == LIFETIME_START


def test_a_changed_business_zone_is_not_answered_from_the_old_window(settings) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 1, 15, 4, 0, tzinfo=UTC)
    settings.TIME_ZONE = "Europe/Istanbul"
    assert budget_period_start(period="day", now=at) == datetime(2026, 1, 14, 21, 0, tzinfo=UTC)
    settings.TIME_ZONE = "America/New_York"  # 23:00 on the 14th there
    assert budget_period_start(period="day", now=at) == datetime(2026, 1, 14, 5, 0, tzinfo=UTC)
