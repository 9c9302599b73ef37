"""A server-rendered SVG bar chart of cost per day. Pure: text in, markup out."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

from contracts.money import micro_to_usd

WIDTH, HEIGHT, PAD = 640, 180, 24


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def cost_chart(costs: dict[date, int], start: date, end: date, label: str) -> str:
    """Bars of micro-USD per day (missing days are 0), with the label as its accessible name."""
    days = days_between(start, end)
    top = max([costs.get(d, 0) for d in days] + [1])
    step = (WIDTH - 2 * PAD) / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        value = costs.get(day, 0)
        height = round((HEIGHT - 2 * PAD) * value / top, 1)
        x, y = round(PAD + i * step, 1), round(HEIGHT - PAD - height, 1)
        title = f"{day.isoformat()}: {micro_to_usd(value)} USD"
        bars.append(
            f'<rect x="{x}" y="{y}" width="{max(step - 2, 1):.1f}" height="{height}" '
            f'fill="#1f5f99"><title>{escape(title)}</title></rect>'
        )
    axis = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#333" stroke-width="1"/>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11" fill="#333">{start.isoformat()}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" fill="#333" '
        f'text-anchor="end">{end.isoformat()}</text>'
    )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(bars)}{axis}</svg>"
    )
