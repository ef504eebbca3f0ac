"""Evaluation writes: building and importing suites, starting runs (plain, uplift and
automatic after training), recording what a run found."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from curation.jobs import create_job, enqueue, request_cancel
from curation.models import Job, Language, Task
from evaluation.models import EvalRun, EvalSample, Suite, SuiteProblem
from evaluation.problems import problem_to_dict, problems_digest
from training.models import Checkpoint

MAX_N = 200
MAX_NEW_TOKENS = 2048
MAX_REPAIR_ROUNDS = 5
# pass@k is reported for these k that the run's n allows (MultiPL-E reports 1, 10, 100).
KS = (1, 5, 10, 100)
# Defaults per suite kind: MultiPL-E's published setting for code (n = 20, T = 0.2).
SUITE_DEFAULTS = {
    "code": {"default_n": 20, "default_temperature": 0.2, "default_max_new_tokens": 256},
    "errfix": {"default_n": 5, "default_temperature": 0.2, "default_max_new_tokens": 384},
    "docqa": {"default_n": 5, "default_temperature": 0.2, "default_max_new_tokens": 128},
}


class EvaluationRefused(ValueError):
    """A run or suite that cannot be started or built, with the reason a user can act on."""


# ---------------------------------------------------------------- suites

def _store_suite(language: Language, name: str, problems: list, *, kind: str, source: str, variant: str,
                 description: str, licence: str, restriction: str, auto: bool) -> Suite:
    """Create or update a suite and make its active problems equal `problems`. Problems that
    left the suite are retired (runs keep pointing at them), never deleted."""
    digest = problems_digest(problems)
    suite, created = Suite.objects.select_for_update().get_or_create(
        language=language, name=name,
        defaults=dict(kind=kind, source=source, variant=variant, description=description, licence=licence,
                      restriction=restriction, digest=digest, auto=auto, **SUITE_DEFAULTS[kind]))
    if not created:
        wanted = dict(kind=kind, source=source, variant=variant, description=description, licence=licence,
                      restriction=restriction, digest=digest)
        dirty = [k for k, v in wanted.items() if getattr(suite, k) != v]
        for key in dirty:
            setattr(suite, key, wanted[key])
        if dirty:
            suite.save(update_fields=[*dirty, "updated_at"])
    existing = {p.key: p for p in suite.problems.all()}
    new, changed = [], []
    for position, problem in enumerate(problems):
        data = problem_to_dict(problem)
        row = existing.pop(problem.id, None)
        values = dict(position=position, category=problem.category[:100], prompt=problem.prompt, data=data,
                      active=True)
        if row is None:
            new.append(SuiteProblem(suite=suite, key=problem.id, **values))
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            changed.append(row)
    SuiteProblem.objects.bulk_create(new, batch_size=500)
    if changed:
        SuiteProblem.objects.bulk_update(changed, ["position", "category", "prompt", "data", "active"],
                                         batch_size=500)
    gone = [row.pk for row in existing.values() if row.active]
    if gone:
        SuiteProblem.objects.filter(pk__in=gone).update(active=False)
    return suite


def do_sync_pack_suites(language: Language, *, pool=None) -> list[Suite]:
    """Build (or refresh) the suites that come from the language's pack: `<slug>-dev` and
    `<slug>-test` (instruction prompts), `<slug>-test-completion` (the test tasks as code to
    continue, for base models), `<slug>-errfix` and `<slug>-docqa`.

    Preconditions: the language was onboarded from a pack folder that still reads. The
    error-fix suite runs its mutations in the sandbox, so this takes a second or two.
    Running it again changes nothing unless the pack changed.
    """
    from curation.packs import read_pack
    from evaluation.suites import docqa_suite, errfix_suite, pack_suite

    content = read_pack(language.pack_path)
    slug = language.slug
    built: list[tuple[str, list, dict]] = []
    for split in ("dev", "test"):
        problems = pack_suite(content, splits=(split,))
        if problems:
            built.append((f"{slug}-{split}", problems, dict(
                kind="code", source=f"pack:{split}", variant="instruction", auto=split == "test",
                description=f"The pack's {split} tasks, as instructions")))
    completion = [dataclasses.replace(p, suite=f"{slug}-test-completion")
                  for p in pack_suite(content, splits=("test",), variant="completion")] if content.pack.line_comment else []
    if completion:
        built.append((f"{slug}-test-completion", completion, dict(
            kind="code", source="pack:test", variant="completion", auto=True,
            description="The pack's test tasks as code to continue (for base models)")))
    errfix = errfix_suite(content, pool=pool)
    if errfix:
        built.append((f"{slug}-errfix", errfix, dict(
            kind="errfix", source="pack:errfix", variant="instruction", auto=False,
            description="Broken references with the runner's real message; the fix must pass the tests")))
    docqa = docqa_suite(content)
    if docqa:
        built.append((f"{slug}-docqa", docqa, dict(
            kind="docqa", source="pack:docqa", variant="instruction", auto=False,
            description="One question per doc section; the answer must cite its anchor")))
    with transaction.atomic():
        return [_store_suite(language, name, problems, licence=language.licence,
                             restriction=Suite.Restriction.HELD_OUT, **options)
                for name, problems, options in built]


def do_import_multiple(language: Language, path: Path | str, *, name: str | None = None) -> Suite:
    """Import a MultiPL-E file as an evaluation-only suite, and register its problems as
    curation Task rows (source "multipl-e:<suite>", split "test") so synthesis triage
    decontaminates training data against them.

    Preconditions: the file is MultiPL-E JSONL for this language (MultipleFormatError names
    the line and field otherwise). Importing the same file again changes nothing.
    """
    from evaluation.suites import multiple_suite

    path = Path(path)
    problems = multiple_suite(path, language=language.slug, suite=name)
    if not problems:
        raise EvaluationRefused(f"{path} holds no problems")
    suite_name = problems[0].suite
    source = f"multipl-e:{suite_name}"[:60]
    with transaction.atomic():
        suite = _store_suite(
            language, suite_name, problems, kind="code", source=source, variant="completion", auto=True,
            description=f"MultiPL-E {path.name}: evaluation only (its licence forbids training on it)",
            licence=problems[0].licence[:100], restriction=Suite.Restriction.LICENCE)
        existing = {t.name: t for t in Task.objects.filter(language=language, source=source)}
        new, changed = [], []
        for problem in problems:
            task_name = str(problem.metadata.get("name") or problem.id)[:200]
            values = dict(split=Task.Split.TEST, category=suite_name[:60], prompt=problem.prompt,
                          entry_point=(problem.entry_point or "")[:100], tests=[], reference=problem.reference or "",
                          wrong="")
            task = existing.get(task_name)
            if task is None:
                new.append(Task(language=language, name=task_name, source=source, **values))
            elif any(getattr(task, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(task, k, v)
                changed.append(task)
        Task.objects.bulk_create(new, batch_size=500)
        if changed:
            Task.objects.bulk_update(changed, ["split", "category", "prompt", "entry_point", "tests", "reference",
                                               "wrong"], batch_size=500)
    return suite


# ---------------------------------------------------------------- runs

def do_start_run(checkpoint: Checkpoint, suite: Suite, *, n: int | None = None, temperature: float | None = None,
                 max_new_tokens: int | None = None, seed: int = 0, limit: int | None = None,
                 mode: str = EvalRun.Mode.PLAIN, repair_rounds: int = 2, retrieval: bool = True,
                 few_shot: int = 2, prompt_format: str = "auto", baseline: EvalRun | None = None,
                 trigger: str = "ui", by=None, send: bool = True) -> EvalRun:
    """Queue one run of `checkpoint` on `suite` on the `eval` queue; it starts with the
    harness self-test and is marked invalid if that fails.

    Preconditions: checkpoint and suite belong to the same language; the suite has active
    problems; 1 <= n <= MAX_N; 0 <= temperature <= 2 (0 is greedy, which makes n > 1
    pointless and is refused); 1 <= max_new_tokens <= MAX_NEW_TOKENS; limit, when given,
    keeps the suite's first `limit` problems (a quick check, marked in the settings);
    mode is plain or assistant (with 0..MAX_REPAIR_ROUNDS repair rounds). Unset figures
    take the suite's defaults. With send=False the caller runs the job itself (the CLI).
    """
    n = suite.default_n if n is None else int(n)
    temperature = suite.default_temperature if temperature is None else float(temperature)
    max_new_tokens = suite.default_max_new_tokens if max_new_tokens is None else int(max_new_tokens)
    if checkpoint.language_id != suite.language_id:
        raise EvaluationRefused(f"checkpoint {checkpoint} is a {checkpoint.language} model; suite {suite} is "
                                f"for {suite.language}")
    if not 1 <= n <= MAX_N:
        raise EvaluationRefused(f"n must be between 1 and {MAX_N}")
    if not 0 <= temperature <= 2:
        raise EvaluationRefused("temperature must be between 0 and 2")
    if temperature == 0 and n > 1:
        raise EvaluationRefused("greedy decoding (temperature 0) gives n identical samples; use n = 1")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise EvaluationRefused(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}")
    if limit is not None and int(limit) < 1:
        raise EvaluationRefused("limit must be at least 1")
    if mode not in EvalRun.Mode.values:
        raise EvaluationRefused(f"mode must be one of {', '.join(EvalRun.Mode.values)}")
    if not 0 <= repair_rounds <= MAX_REPAIR_ROUNDS:
        raise EvaluationRefused(f"repair_rounds must be between 0 and {MAX_REPAIR_ROUNDS}")
    if prompt_format not in ("auto", "raw", "chat"):
        raise EvaluationRefused("prompt_format must be auto, raw or chat")
    count = suite.problems.filter(active=True).count()
    if count == 0:
        raise EvaluationRefused(f"suite {suite} has no problems")
    settings = {
        "n": n, "temperature": temperature, "max_new_tokens": max_new_tokens, "seed": seed,
        "ks": [k for k in KS if k <= n], "limit": int(limit) if limit else None, "variant": suite.variant,
        "prompt_format": prompt_format, "mode": mode, "suite_digest": suite.digest,
    }
    if mode == EvalRun.Mode.ASSISTANT:
        settings["assistant"] = {"retrieval": bool(retrieval), "repair_rounds": int(repair_rounds),
                                 "few_shot": int(few_shot)}
    from evaluation.tasks import run_evaluation

    with transaction.atomic():
        job = create_job(Job.Kind.EVALUATION, language=suite.language, created_by=by, params={})
        run = EvalRun.objects.create(checkpoint=checkpoint, suite=suite, mode=mode, baseline=baseline, job=job,
                                     trigger=trigger, settings=settings,
                                     problem_count=min(count, int(limit)) if limit else count,
                                     created_by=by if by is not None and by.is_authenticated else None)
        job.params = {"run": run.pk, "checkpoint": checkpoint.pk, "suite": suite.name, "mode": mode}
        job.save(update_fields=["params"])
        if send:
            enqueue(job, run_evaluation, queue="eval")
    return run


def do_start_uplift(checkpoint: Checkpoint, suite: Suite, *, by=None, trigger: str = "ui", send: bool = True,
                    repair_rounds: int = 2, retrieval: bool = True, few_shot: int = 2, **settings) -> tuple[EvalRun, EvalRun]:
    """Two runs with the same checkpoint, suite and settings: plain generation, and the
    assistant (retrieval, few-shot, repair rounds) measured against it. The uplift is the
    assistant run's Pass@1 minus its baseline's. Preconditions: those of do_start_run."""
    with transaction.atomic():
        plain = do_start_run(checkpoint, suite, by=by, trigger=trigger, send=send, **settings)
        assisted = do_start_run(checkpoint, suite, by=by, trigger=trigger, send=send, mode=EvalRun.Mode.ASSISTANT,
                                baseline=plain, repair_rounds=repair_rounds, retrieval=retrieval, few_shot=few_shot,
                                **settings)
    return plain, assisted


def do_schedule_auto_evaluation(checkpoint: Checkpoint) -> None:
    """After a training job registers a checkpoint: once the transaction commits, ask the
    eval queue to start its automatic runs (see do_start_auto_runs). Writes nothing itself,
    so a training job's transaction stays short."""
    from evaluation.tasks import auto_evaluate

    pk = checkpoint.pk
    transaction.on_commit(lambda: auto_evaluate.apply_async(args=[pk], queue="eval"))


def do_start_auto_runs(checkpoint: Checkpoint) -> list[EvalRun]:
    """One plain run per automatic suite of the checkpoint's language, with each suite's
    default settings. Builds the pack's suites first when the language has none.
    Idempotent: a suite that already has a plain automatic run of this checkpoint is skipped."""
    language = checkpoint.language
    if not Suite.objects.filter(language=language).exists():
        do_sync_pack_suites(language)
    runs = []
    with transaction.atomic():
        for suite in Suite.objects.filter(language=language, auto=True).order_by("name"):
            if EvalRun.objects.filter(checkpoint=checkpoint, suite=suite, mode=EvalRun.Mode.PLAIN,
                                      trigger="auto").exists():
                continue
            runs.append(do_start_run(checkpoint, suite, trigger="auto"))
    return runs


def do_cancel_run(run: EvalRun) -> None:
    """Ask a queued or running run to stop; it stops between chunks of problems."""
    if run.job_id:
        request_cancel(run.job)
    EvalRun.objects.filter(pk=run.pk, status=EvalRun.Status.QUEUED).update(
        status=EvalRun.Status.CANCELLED, finished_at=timezone.now())


# ---------------------------------------------------------------- recording a run

def do_begin_run(run: EvalRun, *, settings: dict) -> None:
    """The run's job started: status running, the settings completed with what was resolved
    at run time (toolchain versions, prompt format, stop tokens)."""
    run.status = EvalRun.Status.RUNNING
    run.settings = settings
    run.save(update_fields=["status", "settings"])


def do_mark_invalid(run: EvalRun, report, *, seconds: float) -> None:
    """The harness self-test failed: the run is invalid and holds no samples or metrics."""
    with transaction.atomic():
        run.samples.all().delete()
        run.status = EvalRun.Status.INVALID
        run.self_test = _json_safe(report.to_dict())
        run.invalid_reason = _text(report.summary())
        run.metrics, run.clusters = {}, {}
        run.headline = run.headline_low = run.headline_high = None
        run.seconds = seconds
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "self_test", "invalid_reason", "metrics", "clusters", "headline",
                                "headline_low", "headline_high", "seconds", "finished_at"])


def do_record_results(run: EvalRun, *, judgements: list, traces: dict, problems: dict, report, metrics: dict,
                      clusters: dict, generation_seconds: float, seconds: float) -> None:
    """Store every judged sample and the run's figures in one transaction: a redelivered
    job replaces what an earlier attempt wrote, so a run is never half stored.

    judgements: harness.Judgement; problems: problem key -> SuiteProblem; traces:
    (problem key, sample) -> list of rounds (assistant runs)."""
    from evaluation.metrics import HEADLINE

    rows = [EvalSample(
        run=run, problem=problems[j.problem_id], sample=j.sample, completion=_text(j.completion),
        verdict=j.verdict, passed=j.passed, compiles=j.compiles, error_type=(j.error_type or "")[:60],
        error_message=_text(j.error_message), error_line=j.error_line, stderr=_text(j.stderr),
        run_seconds=j.run_seconds or 0.0, seconds=j.seconds, tokens=j.tokens,
        trace=_json_safe(traces.get((j.problem_id, j.sample), [])),
    ) for j in judgements]
    headline = (metrics.get("metrics") or {}).get(f"{HEADLINE.get(run.suite.kind, 'Pass')}@1") or {}
    with transaction.atomic():
        run.samples.all().delete()
        EvalSample.objects.bulk_create(rows, batch_size=1000)
        run.status = EvalRun.Status.FINISHED
        run.self_test = _json_safe(report.to_dict())
        run.invalid_reason = ""
        run.metrics = metrics
        run.clusters = _json_safe(clusters)
        run.headline = headline.get("value")
        run.headline_low = headline.get("low")
        run.headline_high = headline.get("high")
        run.problem_count = len({j.problem_id for j in judgements})
        run.sample_count = len(rows)
        run.generation_seconds = generation_seconds
        run.seconds = seconds
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "self_test", "invalid_reason", "metrics", "clusters", "headline",
                                "headline_low", "headline_high", "problem_count", "sample_count",
                                "generation_seconds", "seconds", "finished_at"])


def do_end_run(run: EvalRun, status: str) -> None:
    """The job stopped without results (failed or cancelled)."""
    EvalRun.objects.filter(pk=run.pk, status__in=[EvalRun.Status.QUEUED, EvalRun.Status.RUNNING]).update(
        status=status, finished_at=timezone.now())


def _text(value) -> str:
    # Postgres text and jsonb refuse NUL; a model's output may carry it (an untrained
    # one does), and so may what a program prints (FACTS.md).
    return (value or "").replace("\x00", "\ufffd")


def _json_safe(value):
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
