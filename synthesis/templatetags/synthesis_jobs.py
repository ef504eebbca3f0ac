"""What a synthesis job's page shows beside its counters: the generator, its settings, the
rates so far, and where to browse what it stored."""
from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def synthesis_summary(job) -> dict:
    from synthesis.registry import check_limits, limits_for
    from synthesis.report import GeneratorRates, percent

    params = job.params or {}
    generator = params.get("generator", "")
    rates = GeneratorRates(generator)
    for key, value in (job.counters or {}).items():
        if isinstance(value, (int, float)):
            rates.counters[key] += value
    shown = [("parses", rates.parse_share), ("runs ok", rates.runner_share),
             ("negatives fail as intended", rates.negatives_intended_share),
             ("augmentations survive", rates.augment_survival)]
    try:
        limits = limits_for(generator, check_limits(params.get("limits")))
    except ValueError:
        limits = {}
    return {
        "generator": generator, "seed": params.get("seed"), "count": params.get("count"),
        "params": params.get("params") or {}, "limits": limits,
        "rates": [(label, percent(value)) for label, value in shown if value is not None],
        "validated": rates.validated, "stored": rates.counters["stored"],
        "duplicates": rates.counters["duplicates"], "auto_rejected": rates.counters["auto_rejected"],
        "browse_url": _browse_url(job, generator),
    }


def _browse_url(job, generator: str) -> str:
    """The review app's browse page filtered to this generator, if that page exists."""
    if job.language is None or not generator:
        return ""
    try:
        url = reverse("curation-browse-samples", args=[job.language.slug])
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode({'generator': generator})}"
