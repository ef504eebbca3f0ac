"""Formatting evaluation figures in templates."""
from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.1234 → "12.3%"; None → "—"."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def interval(estimate) -> str:
    """An Estimate dict's 95% interval as "[low – high]" in percent."""
    if not estimate or estimate.get("low") is None:
        return ""
    return f"[{float(estimate['low']) * 100:.1f} – {float(estimate['high']) * 100:.1f}]"


@register.filter
def get(mapping, key):
    if not mapping:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def seconds(value) -> str:
    if value is None or value == "":
        return "—"
    value = float(value)
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


@register.filter
def signed_pct(value) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:+.1f} pts"


@register.filter
def anchor_slug(anchor: str) -> str:
    """"§3.2" → "3.2" for the doc section's URL."""
    return (anchor or "").lstrip("§")
