"""Per-generator rates of a language's synthesis: how much of what each generator makes
parses, runs, fails the intended way, survives augmentation, and ends up stored.

Rates come from the counters the synthesis jobs recorded (what the pipeline and triage
saw, chunk by chunk, including what was dropped); stored figures come from the rows
themselves, so items deleted since are not counted."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from curation.models import DocQAItem, Job, Language, PreferencePair, ReviewStatus, Sample

REJECTED_PREFIX = "auto_rejected_"


@dataclass
class GeneratorRates:
    generator: str
    jobs: int = 0
    failed_jobs: int = 0
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stored: int = 0  # rows now in the database
    pending: int = 0
    auto_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def share(self, part: str, whole: str) -> float | None:
        return self.counters[part] / self.counters[whole] if self.counters[whole] else None

    @property
    def parse_share(self) -> float | None:
        return self.share("parsed", "generated")

    @property
    def runner_share(self) -> float | None:
        """Of the programs meant to run (positives, DPO candidates, doc examples), those
        the runner accepted."""
        return self.share("runner_ok", "expect_ok")

    @property
    def negatives_intended_share(self) -> float | None:
        return self.share("negatives_intended", "negatives")

    @property
    def augment_survival(self) -> float | None:
        return self.share("augment_survived", "augments")

    @property
    def validated(self) -> int:
        return self.counters["passed"] + self.counters["pairs"]

    def as_dict(self) -> dict:
        return {
            "generator": self.generator, "jobs": self.jobs, "failed_jobs": self.failed_jobs,
            "generated": self.counters["generated"], "validated": self.validated,
            "parse_share": self.parse_share, "runner_share": self.runner_share,
            "negatives": self.counters["negatives"], "negatives_intended_share": self.negatives_intended_share,
            "augments": self.counters["augments"], "augment_survival": self.augment_survival,
            "stored": self.stored, "pending": self.pending, "auto_rejected": self.auto_rejected,
            "rejected_by_reason": dict(self.rejected_by_reason), "duplicates": self.counters["duplicates"],
        }


def generator_rates(language: Language) -> list[GeneratorRates]:
    """One entry per generator that has run on the language (or has rows), by name."""
    rates: dict[str, GeneratorRates] = {}

    def of(name: str) -> GeneratorRates:
        return rates.setdefault(name, GeneratorRates(name))

    jobs = Job.objects.filter(kind=Job.Kind.SYNTHESIS, language=language).values_list("params", "counters", "status")
    for params, counters, status in jobs:
        entry = of((params or {}).get("generator", "?"))
        entry.jobs += 1
        entry.failed_jobs += status == Job.Status.FAILED
        for key, value in (counters or {}).items():
            if isinstance(value, (int, float)):
                entry.counters[key] += value
    for model in (Sample, PreferencePair, DocQAItem):
        rows = model.objects.filter(language=language).values("generator", "status").annotate(n=Count("id"))
        for row in rows.order_by():
            entry = of(row["generator"])
            entry.stored += row["n"]
            entry.pending += row["n"] if row["status"] == ReviewStatus.PENDING else 0
            entry.auto_rejected += row["n"] if row["status"] == ReviewStatus.AUTO_REJECTED else 0
    for entry in rates.values():
        entry.rejected_by_reason = {key[len(REJECTED_PREFIX):]: value for key, value in sorted(entry.counters.items())
                                    if key.startswith(REJECTED_PREFIX) and value}
    return [rates[name] for name in sorted(rates)]


COLUMNS = [
    # (heading, width, value)
    ("generator", 22, lambda r: r.generator),
    ("jobs", 5, lambda r: str(r.jobs)),
    ("made", 7, lambda r: str(r.counters["generated"])),
    ("parses", 7, lambda r: percent(r.parse_share)),
    ("runs ok", 8, lambda r: percent(r.runner_share)),
    ("neg. intended", 14, lambda r: percent(r.negatives_intended_share)),
    ("aug. survive", 13, lambda r: percent(r.augment_survival)),
    ("validated", 10, lambda r: str(r.validated)),
    ("stored", 7, lambda r: str(r.stored)),
    ("dups", 6, lambda r: str(r.counters["duplicates"])),
    ("auto-rej.", 10, lambda r: str(r.auto_rejected)),
]


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def format_table(rates: list[GeneratorRates]) -> str:
    lines = ["".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w, _) in enumerate(COLUMNS))]
    for r in rates:
        lines.append("".join(f"{f(r):<{w}}" if i == 0 else f"{f(r):>{w}}" for i, (_, w, f) in enumerate(COLUMNS)))
    reasons = [(r.generator, r.rejected_by_reason) for r in rates if r.rejected_by_reason]
    if reasons:
        lines.append("")
        lines.append("auto-rejected by reason (triage rules; as the jobs counted them, before dropping duplicates):")
        for generator, by_reason in reasons:
            lines.append(f"  {generator:22}" + ", ".join(f"{reason} {n}" for reason, n in by_reason.items()))
    failed = [r for r in rates if r.failed_jobs]
    if failed:
        lines.append("")
        lines.append("failed jobs (their stored chunks count above): "
                     + ", ".join(f"{r.generator} {r.failed_jobs}" for r in failed))
    return "\n".join(lines)
