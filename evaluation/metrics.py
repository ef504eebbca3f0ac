"""Benchmark metrics over judged samples: pass@k, Compile@1, FixRate@1, DocGrounded@1, cost.

Pure: numbers in, numbers out. A judged sample is anything with `problem_id`, `passed`,
`compiles` (None where compiling means nothing, as for doc-QA), `seconds` and `tokens`
(None when the backend did not say) — `evaluation.harness.Judgement` is one.

Intervals are 95%. A metric@1 is the mean over problems of each problem's pass rate c/n,
with a Wilson interval that counts *problems* as the trials: the samples of one problem are
not independent, so counting them would make the interval falsely narrow. With n = 1 this
is the textbook Wilson interval. pass@k for k > 1 has no binomial form; it gets a
percentile bootstrap over problems with a fixed seed, so the same run always reports the
same interval.
"""
from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping, Sequence

from curation.packs import CITATION, cited_anchors as _cited

Z95 = 1.959963984540054


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c passed: 1 - C(n-c, k) / C(n, k).

    Computed as the Codex paper's product 1 - prod_{i=n-c+1}^{n} (1 - k/i), which never forms
    the binomials (C(200, 100) overflows a float).
    """
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError("n, c and k must be integers")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k} with n={n}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def wilson_interval(successes: float, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; `successes` may be fractional (a sum of rates)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = min(max(successes / trials, 0.0), 1.0)
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(values: Sequence[float], *, resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per problem)."""
    if not values:
        return (0.0, 1.0)
    rng = random.Random(seed)
    size = len(values)
    means = sorted(sum(values[rng.randrange(size)] for _ in range(size)) / size for _ in range(resamples))
    tail = (1.0 - level) / 2
    low = means[min(resamples - 1, int(math.floor(tail * resamples)))]
    high = means[min(resamples - 1, int(math.ceil((1.0 - tail) * resamples)) - 1)]
    return (low, high)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    problems: int
    method: str  # "wilson" or "bootstrap"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Cost:
    """Per-sample generation cost; None where the backend reported nothing.

    `seconds` is what the backend reports per completion; a batching backend reports the
    batch's latency for each of its samples (the wait a caller saw), so no tokens-per-second
    figure is derived from it here.
    """
    samples: int
    mean_seconds: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    mean_tokens: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SuiteMetrics:
    suite: str
    kind: str
    problems: int
    samples: int
    metrics: dict[str, Estimate] = field(default_factory=dict)
    cost: Cost | None = None

    def to_dict(self) -> dict:
        return {
            "suite": self.suite, "kind": self.kind, "problems": self.problems, "samples": self.samples,
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "cost": self.cost.to_dict() if self.cost else None,
        }


# The headline metric of each suite kind: what "the sample passed" means there.
HEADLINE = {"code": "Pass", "errfix": "FixRate", "docqa": "DocGrounded"}


def rate_at_1(counts: Sequence[tuple[int, int]]) -> Estimate:
    """Mean over problems of c/n with a Wilson interval over problems. counts: (n, c) each."""
    counts = [(n, c) for n, c in counts if n > 0]
    total = sum(c / n for n, c in counts)
    low, high = wilson_interval(total, len(counts))
    value = total / len(counts) if counts else 0.0
    return Estimate(value, low, high, len(counts), "wilson")


def rate_at_k(counts: Sequence[tuple[int, int]], k: int, *, seed: int = 0, resamples: int = 1000) -> Estimate | None:
    """Mean pass@k over problems with a bootstrap interval; None when a problem has fewer than k samples."""
    if k == 1:
        return rate_at_1(counts)
    counts = [(n, c) for n, c in counts if n > 0]
    if not counts or any(n < k for n, _ in counts):
        return None
    values = [pass_at_k(n, c, k) for n, c in counts]
    low, high = bootstrap_interval(values, resamples=resamples, seed=seed)
    return Estimate(sum(values) / len(values), low, high, len(values), "bootstrap")


def cost_of(samples: Sequence) -> Cost:
    seconds = [s.seconds for s in samples if getattr(s, "seconds", None) is not None]
    tokens = [s.tokens for s in samples if getattr(s, "tokens", None) is not None]
    quantiles = statistics.quantiles(seconds, n=20, method="inclusive") if len(seconds) >= 2 else None
    return Cost(
        samples=len(samples),
        mean_seconds=statistics.fmean(seconds) if seconds else None,
        p50_seconds=statistics.median(seconds) if seconds else None,
        p95_seconds=(quantiles[18] if quantiles else (seconds[0] if seconds else None)),
        mean_tokens=statistics.fmean(tokens) if tokens else None,
    )


def summarize(samples: Iterable, problems: Iterable, *, ks: Sequence[int] = (1,), seed: int = 0,
              resamples: int = 1000) -> dict[str, SuiteMetrics]:
    """Metrics per suite. `problems` carry `id`, `suite` and `kind` ("code", "errfix", "docqa").

    Code suites get Compile@1 and Pass@k for each k; error-fix suites Compile@1 and
    FixRate@k; doc-QA suites DocGrounded@k. A problem with no samples is left out of every
    figure (it has no rate), and its absence shows in `problems` against the suite size.
    """
    problems = list(problems)
    by_problem: dict[str, list] = defaultdict(list)
    for sample in samples:
        by_problem[sample.problem_id].append(sample)
    suites: dict[str, list] = defaultdict(list)
    for problem in problems:
        suites[problem.suite].append(problem)

    result: dict[str, SuiteMetrics] = {}
    for suite, members in suites.items():
        kind = members[0].kind
        judged = [by_problem[p.id] for p in members if by_problem.get(p.id)]
        flat = [s for group in judged for s in group]
        metrics: dict[str, Estimate] = {}
        if kind in ("code", "errfix"):
            compile_counts = [(len(g), sum(1 for s in g if s.compiles)) for g in judged]
            metrics["Compile@1"] = rate_at_1(compile_counts)
        pass_counts = [(len(g), sum(1 for s in g if s.passed)) for g in judged]
        for k in sorted(set(ks) | {1}):
            estimate = rate_at_k(pass_counts, k, seed=seed, resamples=resamples)
            if estimate is not None:
                metrics[f"{HEADLINE.get(kind, 'Pass')}@{k}"] = estimate
        result[suite] = SuiteMetrics(suite, kind, len(judged), len(flat), metrics, cost_of(flat))
    return result


def pass_rates(samples: Iterable) -> Mapping[str, tuple[int, int]]:
    """problem_id -> (n, c)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sample in samples:
        entry = counts[sample.problem_id]
        entry[0] += 1
        entry[1] += 1 if sample.passed else 0
    return {pid: (n, c) for pid, (n, c) in counts.items()}


# ---------------------------------------------------------------- DocGrounded

ANCHOR = CITATION  # the one citation rule (curation.packs), as this module has always called it
MAX_EXTRA_CITATIONS = 2


@dataclass(frozen=True)
class Grounding:
    grounded: bool
    reason: str  # "" when grounded; else "no_answer", "missing_anchor", "unknown_anchor", "overcited"
    cited: tuple[str, ...]
    missing: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


def cited_anchors(answer: str) -> tuple[str, ...]:
    """Anchors an answer cites, in order of first citation: '§6.1' (also '§ 6.1'); a
    sentence-ending dot ('see §6.1.') is not part of the anchor."""
    return tuple(_cited(answer))


def doc_grounded(answer: str, required: Iterable[str], known: Iterable[str], *,
                 max_extra: int = MAX_EXTRA_CITATIONS) -> Grounding:
    """DocGrounded for one answer. It is grounded when, with `cited` the anchors it cites:

    1. it says something besides citations (an answer of only '§6.1' is not an answer);
    2. every required anchor is cited — the exact section, a parent (§6 for §6.1) does not count;
    3. every cited anchor exists in the pack's docs (no invented sections);
    4. at most `max_extra` cited anchors are outside the required ones, so citing every
       section of the reference cannot pass.
    """
    required = tuple(dict.fromkeys(required))
    known = set(known)
    cited = cited_anchors(answer)
    text = ANCHOR.sub(" ", answer or "")
    if not any(ch.isalpha() for ch in text):
        return Grounding(False, "no_answer", cited)
    missing = tuple(a for a in required if a not in cited)
    if missing:
        return Grounding(False, "missing_anchor", cited, missing=missing)
    unknown = tuple(a for a in cited if a not in known)
    if unknown:
        return Grounding(False, "unknown_anchor", cited, unknown=unknown)
    if len([a for a in cited if a not in required]) > max_extra:
        return Grounding(False, "overcited", cited)
    return Grounding(True, "", cited)
