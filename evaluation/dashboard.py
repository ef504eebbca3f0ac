"""What the PM dashboard shows, read from stored runs: metric trends across checkpoints,
the leaderboard, the assistant's uplift, and per-problem summaries of a run.

A trend point is the latest finished, valid, plain run of a checkpoint on a suite; the
assistant's runs are shown beside their baselines, never mixed into the trends.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from evaluation.models import EvalRun, Suite
from training.models import Checkpoint

# What each metric means, for the dashboard's legend.
LEGEND = [
    ("Compile@1", "Share of samples that parse and that the interpreter accepts (no syntax error) — averaged "
                  "per problem."),
    ("Pass@1", "Share of samples that pass all of the problem's tests: the chance one sample is right."),
    ("Pass@k", "Chance that at least one of k samples passes (unbiased estimator from n ≥ k samples per problem, "
               "as in the Codex paper and MultiPL-E)."),
    ("FixRate@1", "Error-fix suite: share of answers that turn a broken program (with its real error message) "
                  "into one that passes the tests."),
    ("DocGrounded@1", "Doc-QA suite: share of answers that say something and cite exactly the right manual "
                      "section (§ anchor), inventing none."),
    ("Latency", "Seconds the caller waited for a sample's batch; time per sample is the generation time "
                "divided by the samples made."),
    ("Tokens", "Mean tokens generated per sample (all rounds, for the assistant)."),
    ("95% interval", "Wilson interval over problems for @1 figures (samples of one problem are not independent); "
                     "a seeded bootstrap over problems for Pass@k with k > 1. Overlapping intervals mean the "
                     "difference may be noise."),
    ("Invalid", "The harness self-test failed before the run (a reference did not pass or a known-wrong answer "
                "was not caught): its figures would mean nothing, so it has none."),
    ("Uplift", "Pass@1 of the assistant (retrieval of doc sections, similar accepted samples as examples, repair "
               "rounds fed the real error) minus Pass@1 of plain generation: same checkpoint, suite and settings."),
]


def latest_runs(language, *, mode: str = EvalRun.Mode.PLAIN) -> dict[tuple[int, int], EvalRun]:
    """(checkpoint id, suite id) -> the latest finished, valid run of that mode."""
    runs = (EvalRun.objects.filter(suite__language=language, mode=mode, status=EvalRun.Status.FINISHED)
            .select_related("suite", "checkpoint").order_by("created_at", "pk"))
    latest: dict[tuple[int, int], EvalRun] = {}
    for run in runs.only("id", "suite", "checkpoint", "metrics", "headline", "headline_low", "headline_high",
                         "created_at", "settings", "sample_count", "generation_seconds", "mode", "status",
                         "suite__name", "suite__kind", "checkpoint__name", "checkpoint__created_at"):
        latest[(run.checkpoint_id, run.suite_id)] = run
    return latest


def trends(language) -> list[dict]:
    """One chart per suite: every metric of the suite along the checkpoints (oldest first),
    with the headline's 95% band. JSON-ready for the dashboard's script."""
    latest = latest_runs(language)
    checkpoint_ids = {c for c, _ in latest}
    checkpoints = list(Checkpoint.objects.filter(pk__in=checkpoint_ids).order_by("created_at", "pk"))
    suites = Suite.objects.filter(language=language, pk__in={s for _, s in latest}).order_by("name")
    charts = []
    for suite in suites:
        names: dict[str, None] = {}
        for checkpoint in checkpoints:
            run = latest.get((checkpoint.pk, suite.pk))
            for name in (run.metrics.get("metrics") or {}) if run else ():
                names.setdefault(name, None)
        series = {name: [] for name in names}
        low, high, runs = [], [], []
        for checkpoint in checkpoints:
            run = latest.get((checkpoint.pk, suite.pk))
            metrics = (run.metrics.get("metrics") or {}) if run else {}
            for name in names:
                value = metrics.get(name, {}).get("value")
                series[name].append(None if value is None else round(value, 4))
            low.append(None if run is None or run.headline_low is None else round(run.headline_low, 4))
            high.append(None if run is None or run.headline_high is None else round(run.headline_high, 4))
            runs.append(run.pk if run else None)
        charts.append({"suite": suite.name, "kind": suite.kind, "headline": suite.headline,
                       "checkpoints": [c.name for c in checkpoints], "series": series, "low": low, "high": high,
                       "runs": runs})
    return charts


@dataclass
class LeaderboardRow:
    checkpoint: Checkpoint
    cells: list = field(default_factory=list)  # one EvalRun or None per suite
    mean: float | None = None


def leaderboard(language) -> tuple[list[Suite], list[LeaderboardRow]]:
    """Checkpoints × suites, each cell the latest valid plain run; best mean headline first."""
    latest = latest_runs(language)
    suites = list(Suite.objects.filter(language=language, pk__in={s for _, s in latest}).order_by("name"))
    checkpoints = Checkpoint.objects.filter(pk__in={c for c, _ in latest}).order_by("created_at")
    rows = []
    for checkpoint in checkpoints:
        cells = [latest.get((checkpoint.pk, suite.pk)) for suite in suites]
        values = [run.headline for run in cells if run is not None and run.headline is not None]
        rows.append(LeaderboardRow(checkpoint, cells, sum(values) / len(values) if values else None))
    rows.sort(key=lambda r: (-(r.mean if r.mean is not None else -1), r.checkpoint.name))
    return suites, rows


@dataclass(frozen=True)
class UpliftRow:
    assisted: EvalRun
    baseline: EvalRun

    @property
    def uplift(self) -> float | None:
        if self.assisted.headline is None or self.baseline.headline is None:
            return None
        return self.assisted.headline - self.baseline.headline

    @property
    def settings(self) -> dict:
        return self.assisted.settings.get("assistant") or {}


def uplifts(language, *, limit: int = 20) -> list[UpliftRow]:
    runs = (EvalRun.objects.filter(suite__language=language, mode=EvalRun.Mode.ASSISTANT,
                                   status=EvalRun.Status.FINISHED, baseline__status=EvalRun.Status.FINISHED)
            .select_related("suite", "checkpoint", "baseline").order_by("-created_at")[:limit])
    return [UpliftRow(run, run.baseline) for run in runs]


@dataclass
class ProblemSummary:
    problem_id: int
    key: str
    category: str
    samples: int = 0
    passed: int = 0
    compiled: int = 0
    errors: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.passed / self.samples if self.samples else 0.0

    @property
    def top_error(self) -> str:
        return max(self.errors, key=self.errors.get) if self.errors else ""


def problem_summaries(run: EvalRun) -> list[ProblemSummary]:
    """Per problem of a run: samples, passes, compiles and its most common failure."""
    rows: dict[int, ProblemSummary] = {}
    for pid, key, category, passed, compiles, verdict, error_type in (
            run.samples.order_by("problem__position", "sample")
            .values_list("problem_id", "problem__key", "problem__category", "passed", "compiles", "verdict",
                         "error_type")):
        summary = rows.setdefault(pid, ProblemSummary(pid, key, category))
        summary.samples += 1
        summary.passed += passed
        summary.compiled += bool(compiles)
        if not passed:
            label = f"{verdict}:{error_type}" if error_type and verdict != "test_failed" else verdict
            summary.errors[label] = summary.errors.get(label, 0) + 1
    return list(rows.values())


@dataclass(frozen=True)
class Judged:
    """What evaluation.compare needs of a stored sample."""
    problem_id: str
    passed: bool


def judged(run: EvalRun) -> list[Judged]:
    return [Judged(key, passed) for key, passed in run.samples.values_list("problem__key", "passed")]


def per_sample_seconds(run: EvalRun) -> float | None:
    if not run.generation_seconds or not run.sample_count:
        return None
    return run.generation_seconds / run.sample_count

