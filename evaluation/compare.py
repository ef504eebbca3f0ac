"""Two evaluation runs side by side: per-problem pass rates and the problems that flipped.

Pure. A run is its judgements (`problem_id`, `passed`). A problem *passes* in a run when
its pass rate reaches `threshold` (default 0.5: with one sample, it passed; with n samples,
at least half did); a flip is a problem that passes in one run and not in the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from evaluation.metrics import pass_rates


@dataclass(frozen=True)
class ProblemChange:
    problem_id: str
    before_rate: float
    after_rate: float
    before_samples: int
    after_samples: int
    change: str  # "pass→fail", "fail→pass", "pass", "fail"

    @property
    def delta(self) -> float:
        return self.after_rate - self.before_rate


@dataclass(frozen=True)
class Comparison:
    rows: tuple[ProblemChange, ...]  # problems judged in both runs, biggest drop first
    regressed: tuple[str, ...]  # pass→fail
    fixed: tuple[str, ...]  # fail→pass
    only_before: tuple[str, ...]
    only_after: tuple[str, ...]
    before_pass_at_1: float  # over the shared problems
    after_pass_at_1: float

    def to_dict(self) -> dict:
        return {
            "rows": [dict(r.__dict__, delta=r.delta) for r in self.rows],
            "regressed": list(self.regressed), "fixed": list(self.fixed),
            "only_before": list(self.only_before), "only_after": list(self.only_after),
            "before_pass_at_1": self.before_pass_at_1, "after_pass_at_1": self.after_pass_at_1,
        }


def compare_runs(before: Iterable, after: Iterable, *, threshold: float = 0.5) -> Comparison:
    a, b = pass_rates(before), pass_rates(after)
    shared = sorted(set(a) & set(b))
    rows = []
    for pid in shared:
        (na, ca), (nb, cb) = a[pid], b[pid]
        ra, rb = ca / na, cb / nb
        was, now = ra >= threshold, rb >= threshold
        change = ("pass→fail" if was and not now else "fail→pass" if now and not was else "pass" if now else "fail")
        rows.append(ProblemChange(pid, ra, rb, na, nb, change))
    rows.sort(key=lambda r: (r.delta, r.problem_id))
    mean = (lambda rates: sum(rates) / len(rates) if rates else 0.0)
    return Comparison(
        rows=tuple(rows),
        regressed=tuple(r.problem_id for r in rows if r.change == "pass→fail"),
        fixed=tuple(r.problem_id for r in rows if r.change == "fail→pass"),
        only_before=tuple(sorted(set(a) - set(b))),
        only_after=tuple(sorted(set(b) - set(a))),
        before_pass_at_1=mean([r.before_rate for r in rows]),
        after_pass_at_1=mean([r.after_rate for r in rows]),
    )
