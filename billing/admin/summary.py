"""The finance summary page's numbers: totals over the period and the bars of its chart."""

from __future__ import annotations

from datetime import date

from billing.selectors import FinanceDay


def finance_totals(rows: list[FinanceDay]) -> dict[str, object]:
    """Revenue per currency and credit totals over all `rows`."""
    revenue: dict[str, int] = {}
    for row in rows:
        for currency, amount in row.revenue:
            revenue[currency] = revenue.get(currency, 0) + amount
    return {
        "revenue": sorted(revenue.items()),
        "credits_sold": sum(r.credits_sold for r in rows),
        "credits_granted": sum(r.credits_granted for r in rows),
        "credits_used": sum(r.credits_used for r in rows),
        "credits_clawed_back": sum(r.credits_clawed_back for r in rows),
    }


def finance_chart(
    rows: list[FinanceDay], *, width: int = 720, height: int = 180
) -> dict[str, object]:
    """Bar geometry for credits sold (left bar) and used (right bar) per day."""
    top = max([1, *(r.credits_sold for r in rows), *(r.credits_used for r in rows)])
    slot = width / max(len(rows), 1)
    bar = max(slot / 2 - 1, 1)
    bars: list[dict[str, object]] = []
    for index, row in enumerate(rows):
        for offset, value, css in (
            (0.0, row.credits_sold, "sold"),
            (bar, row.credits_used, "used"),
        ):
            h = round(value / top * height, 1)
            bars.append(
                {
                    "x": round(index * slot + offset, 1),
                    "y": round(height - h, 1),
                    "w": round(bar, 1),
                    "h": h,
                    "css": css,
                    "value": value,
                    "day": row.day,
                }
            )
    labels: list[dict[str, object]] = []
    step = max(len(rows) // 6, 1)
    for index in range(0, len(rows), step):
        day: date = rows[index].day
        labels.append({"x": round(index * slot, 1), "text": day.strftime("%m-%d")})
    return {"width": width, "height": height, "top": top, "bars": bars, "labels": labels}
