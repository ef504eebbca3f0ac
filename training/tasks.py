"""Celery tasks of training: thin shells around `training.runner.train`."""
from __future__ import annotations

import time

from celery import shared_task

from curation.jobs import JobCancelled, JobProgress, run_job


def _time_limit() -> int:
    from django.conf import settings

    return int(getattr(settings, "TRAINING_TIME_LIMIT", 6 * 3600))


# Training runs for hours, far past the default task limit; the broker's visibility
# timeout is set above TRAINING_TIME_LIMIT (scriptorium/celery_config.py).
@shared_task(name="training.train_model", soft_time_limit=_time_limit(), time_limit=_time_limit() + 300)
def train_model(job_id: int) -> None:
    run_job(job_id, train)


def train(progress: JobProgress) -> None:
    """Load the dataset rows, train, record every logged step, register the checkpoint.

    A redelivered job (its worker died) resumes from the last checkpoint it saved. A
    cancel request stops at the next step, keeps that checkpoint and registers it."""
    from django.utils import timezone

    from curation.models import Dataset
    from training.actions import dataset_rows
    from training.checkpoints import last_checkpoint
    from training.config import TrainingConfig
    from training.models import Checkpoint, TrainingPoint
    from training.runner import train as run_training

    job, params = progress.job, progress.params
    dataset = Dataset.objects.get(pk=params["dataset_id"])
    from django.conf import settings

    config = TrainingConfig.from_mapping({"threads": settings.TORCH_THREADS, **params["config"],
                                          "output_dir": params["output_dir"]})
    rows = dataset_rows(dataset, config.method)
    eval_rows = dataset_rows(dataset, config.method, "dev") or None
    resume_from = params.get("resume_from") or (
        resumable_checkpoint(config.output_dir, progress.log) if job.attempts > 1 else None)
    if not resume_from and last_checkpoint(config.output_dir) is not None:
        # A first attempt finds checkpoints it did not write: a database reset reused this
        # job's number. Keep them, out of the way, rather than refuse or resume a stranger.
        from pathlib import Path

        stale = Path(config.output_dir)
        stale.rename(stale.with_name(f"{stale.name}.stale-{int(time.time())}"))
        progress.log(f"moved earlier checkpoints aside: {stale.name}.stale-*")
    if resume_from:
        progress.log(f"resuming from {resume_from}")

    def on_log(point: dict) -> None:
        step = int(point.get("step") or 0)
        TrainingPoint.objects.update_or_create(job=job, step=step, defaults=dict(
            loss=point.get("loss"), learning_rate=point.get("learning_rate"),
            tokens_per_second=point.get("tokens_per_second"),
            # The attempt shows where a redelivered job took over the curve.
            extra={**{k: v for k, v in point.items() if k not in ("step", "loss", "learning_rate", "tokens_per_second")},
                   "attempt": job.attempts}))
        total = point.get("max_steps") or 0
        progress.update(progress=step / total if total else None, counters={
            "step": step, "max_steps": total, "loss": point.get("loss"),
            "tokens_per_second": round(point.get("tokens_per_second") or 0, 1),
            "eta_seconds": round(point.get("eta_seconds") or 0)}, force=True)

    last_check = [0.0]

    def should_stop() -> bool:
        # One query every two seconds, not one per step.
        now = time.monotonic()
        if now - last_check[0] < 2.0:
            return False
        last_check[0] = now
        return progress.cancel_requested()

    reward_fn = grpo_reward(job.language) if config.method == "grpo" else None
    result = run_training(config, rows, eval_rows=eval_rows, progress=on_log, should_stop=should_stop,
                          resume_from=resume_from, reward_fn=reward_fn)
    parent = Checkpoint.objects.filter(pk=params.get("base_checkpoint_id")).first()
    Checkpoint.objects.update_or_create(path=str(result.output_dir), defaults=dict(
        language=job.language, name=f"{job.language.slug}-{config.method}-job{job.pk}", method=config.method,
        base_model=config.base_model, adapter=config.adapter if config.uses_lora else "", parent=parent,
        dataset=dataset, config=config.to_mapping(),
        metrics={**result.metrics, "stopped_early": result.stopped_early, "finished_at": timezone.now().isoformat()},
        job=job))
    progress.log(f"checkpoint registered: {result.output_dir} ({', '.join(f'{k} {v:.4g}' for k, v in result.metrics.items())})")
    if result.stopped_early:
        raise JobCancelled()


def resumable_checkpoint(output_dir, log=lambda line: None):
    """The newest checkpoint under `output_dir` that a run can resume from, or None.

    The Trainer writes a checkpoint's files one after another and trainer_state.json last,
    in place: a worker killed while saving leaves a `checkpoint-N` folder without it (or
    with half of it), the newest folder, which resuming refuses — the job would fail
    instead of continuing from the checkpoint before. Such folders are removed (the steps
    after the good checkpoint are trained again) so that they confuse neither the resume
    nor the Trainer's rotation of old checkpoints."""
    import json
    import shutil
    from pathlib import Path

    from training.checkpoints import last_checkpoint

    while (checkpoint := last_checkpoint(output_dir)) is not None:
        try:
            json.loads((Path(checkpoint) / "trainer_state.json").read_text())
            return checkpoint
        except (OSError, ValueError):
            log(f"removed {checkpoint.name}: its save was interrupted")
            shutil.rmtree(checkpoint)
    return None


def grpo_reward(language):
    """The unit-test reward: 1.0 when the completion passes its row's tests in the sandbox."""
    import json

    from curation.execution import pack_for
    from sandbox import Program, run_many

    pack = pack_for(language)

    def reward(completions: list[str], tests: list[str], entry_point: list[str], **_) -> list[float]:
        programs = [Program(_code_of(text), tests=json.loads(t), entry_point=e)
                    for text, t, e in zip(completions, tests, entry_point)]
        scores = [0.0] * len(programs)
        for index, result in run_many(pack, programs, limits={"wall_seconds": 2.0, "cpu_seconds": 1.0}):
            scores[index] = 1.0 if result.ok else 0.0
        return scores

    return reward


def _code_of(text: str) -> str:
    """The first fenced block of a completion, or the whole text."""
    if "```" in text:
        parts = text.split("```")
        if len(parts) >= 3:
            block = parts[1]
            return block.split("\n", 1)[1] if "\n" in block else block
    return text


# ---------------------------------------------------------------- self-training

# Model-written programs get tighter limits than the pack's: a train task's reference runs
# in milliseconds, and a sampled infinite loop should cost one second of a core, not three.
SELF_TRAIN_LIMITS = {"wall_seconds": 2.0, "cpu_seconds": 1.0}
# Prompts per generate call between cancel checks: small enough that a stop request is
# seen within seconds, large enough to keep the batch full (k completions each).
PROMPTS_PER_CHECK = 16


@shared_task(name="training.self_train", soft_time_limit=_time_limit(), time_limit=_time_limit() + 300)
def self_train(job_id: int) -> None:
    run_job(job_id, run_self_training)


def run_self_training(progress: JobProgress) -> None:
    """The self-training loop of one Job(kind=self_training); params as stored by
    training.actions.do_start_self_training. Each round: sample, run, store, record the
    pass rate, freeze the grown dataset with a reweighted mix, train the next checkpoint,
    optionally train the reverse model and label code that has no description.

    Redelivery resumes where the job stopped: a round whose SelfTrainingRound row exists is
    not sampled again, a frozen dataset or registered checkpoint is not made again, and an
    interrupted training run resumes from its last saved checkpoint. A cancel request is
    honoured between generate calls, during the sandbox runs and during training."""
    _SelfTraining(progress).run()


class _SelfTraining:
    def __init__(self, progress: JobProgress):
        from curation.execution import pack_for
        from curation.models import Task
        from training.actions import resolve_base
        from training.self_training import StopRule

        self.progress, self.job, self.params = progress, progress.job, progress.params
        self.language = self.job.language
        self.pack = pack_for(self.language)
        params = self.params
        self.rule = StopRule(max_rounds=params["rounds"], **params["stop"])
        self.start_path, self.start = resolve_base(self.language, params["start"])
        tasks = Task.objects.filter(language=self.language, source="pack", split="train").order_by("name")
        if params.get("tasks"):
            tasks = tasks.filter(name__in=params["tasks"])
        tasks = list(tasks)
        if params.get("tasks_limit"):
            tasks = tasks[: params["tasks_limit"]]
        if not tasks:
            raise ValueError(f"{self.language.name} has no train tasks")
        self.tasks = {t.name: t for t in tasks}
        self.threads = params["config"].get("threads")
        self.tags = tuple(t for t in {self.pack.slug.lower(), self.pack.grammar.lower(), self.pack.name.lower(),
                                      self.pack.extension.lstrip(".").lower()} if t)
        self._last_cancel_check = 0.0

    # -------------------------------------------------------------- the loop

    def run(self) -> None:
        from training.models import SelfTrainingRound
        from training.self_training import SKIP_TRAINING, should_stop

        records = {r.round: r for r in SelfTrainingRound.objects.filter(job=self.job)}
        current = self.start
        current_path = self.start_path
        mix = self._initial_mix()
        history: list[dict] = []
        for number in range(1, self.params["rounds"] + 1):
            record = records.get(number)
            if record is None:
                self.progress.check_cancelled()
                record = self._sample(number, current, current_path)
                records[number] = record
                self._report(records, number, "sampled")
            else:
                self.progress.log(f"round {number}: already sampled (pass rate {record.pass_rate:.3f}), continuing")
            history.append(record.summary())
            reason = should_stop(history, self.rule) or ""
            if not record.finished:
                if record.stop_reason != reason:
                    record.stop_reason = reason
                    record.save(update_fields=["stop_reason"])
                if record.dataset_id is None:
                    self.progress.check_cancelled()
                    self._freeze(record, mix)
                    self._report(records, number, "frozen")
                if reason not in SKIP_TRAINING and record.checkpoint_id is None:
                    self.progress.check_cancelled()
                    self._train(record, current, current_path)
                    self._report(records, number, "trained")
                if self.params.get("reverse") and record.reverse_checkpoint_id is None:
                    self.progress.check_cancelled()
                    self._reverse(record)
                record.finished = True
                record.save(update_fields=["finished"])
            mix = record.mix or mix
            if record.checkpoint_id:
                current = record.checkpoint
                current_path = str(self._folder(current))
            self._report(records, number, "done")
            if reason:
                self.progress.log(f"stopping after round {number}: {reason}")
                break

    # -------------------------------------------------------------- phases

    def _sample(self, number: int, sampler, sampler_path: str):
        import math

        from sandbox import Program, run_many
        from training.actions import RoundOutcome, do_store_self_training_round
        from training.backends import LocalBackend
        from training.self_training import Problem, perplexity_threshold, sample_round, select

        params = self.params
        seed = int(params.get("seed") or 0) * 1000 + number
        timings: dict[str, float] = {}
        started = time.monotonic()
        self._phase(number, 0.0, "sampling")
        backend = LocalBackend(self._folder(sampler, sampler_path), chat=True, threads=self.threads)
        problems = [Problem(t.name, t.prompt) for t in self.tasks.values()]
        candidates = []
        for chunk, first in enumerate(range(0, len(problems), PROMPTS_PER_CHECK)):
            self.progress.check_cancelled()
            candidates += sample_round(backend, problems[first:first + PROMPTS_PER_CHECK], k=params["k"],
                                       temperature=params["temperature"], max_new_tokens=params["max_new_tokens"],
                                       seed=seed * 1000 + chunk, tags=self.tags)
            self._phase(number, 0.35 * min(1.0, (first + PROMPTS_PER_CHECK) / len(problems)), "sampling")
        del backend
        timings["generate"] = round(time.monotonic() - started, 2)

        started = time.monotonic()
        programs = [Program(c.code, tests=self.tasks[c.problem].tests, entry_point=self.tasks[c.problem].entry_point)
                    for c in candidates]
        results: list = [None] * len(programs)
        for done, (index, result) in enumerate(run_many(self.pack, programs, limits=SELF_TRAIN_LIMITS), 1):
            results[index] = result
            if done % 32 == 0:
                self._cancel_point()
                self._phase(number, 0.35 + 0.1 * done / len(programs), "running")
        timings["sandbox"] = round(time.monotonic() - started, 2)

        perplexities, threshold = None, None
        options = params["perplexity"]
        # Each distinct passing program once: the filter and its quantile are about programs,
        # and a program sampled three times would otherwise weigh three times.
        passing = select(candidates, [str(getattr(r.verdict, "value", r.verdict)) for r in results]).kept
        if options.get("on") and passing:
            started = time.monotonic()
            self._phase(number, 0.45, "scoring")
            # Perplexity under the base, not the sampler: the sampler finds its own
            # samples likely by construction.
            scorer = LocalBackend(self._root()[1], threads=self.threads)
            scores = scorer.score([candidates[i].code for i in passing])
            del scorer
            perplexities = [None] * len(candidates)
            for i, nll in zip(passing, scores):
                perplexities[i] = math.exp(min(nll, 700.0)) if math.isfinite(nll) else None
            threshold = options.get("max") or perplexity_threshold(
                [p for p in perplexities if p is not None], float(options["quantile"]))
            timings["perplexity"] = round(time.monotonic() - started, 2)

        outcome = RoundOutcome(
            round=number, sampler=sampler, sampler_path=str(sampler_path), seed=seed,
            model_name=sampler.name if sampler else str(sampler_path), candidates=candidates, results=results,
            tasks=self.tasks, perplexities=perplexities, max_perplexity=threshold,
            keep_high_share=float(options.get("keep_high_share", 0.1)), seconds=timings)
        record = do_store_self_training_round(self.job, outcome, accept_rule=params["accept_rule"])
        self.progress.log(
            f"round {number}: {record.passed}/{record.samples} candidates passed over {record.problems} problems "
            f"(pass@1 {record.pass_at_1:.3f}, pass@{params['k']} {record.pass_at_k:.3f}); stored {record.stored} "
            f"samples ({record.duplicates} duplicates, {record.filtered} filtered by perplexity), {record.pairs} pairs")
        return record

    def _freeze(self, record, mix: dict) -> None:
        from django.db import transaction

        from curation.actions import do_freeze_dataset
        from curation.models import Dataset
        from training.actions import SELF_TRAIN_KIND
        from training.self_training import reweight, source_pass_rates

        started = time.monotonic()
        self._phase(record.round, 0.5, "freezing")
        rates = source_pass_rates(record.per_problem, self._coverage())
        new_mix = reweight(mix, rates)
        name = self.params["dataset"]
        latest = Dataset.objects.filter(language=self.language, name=name).order_by("-version").first()
        spec = dict(latest.filter) if latest else {}
        kinds = list(spec.get("kinds") or [])
        if kinds:
            kinds = sorted(set(kinds) | {SELF_TRAIN_KIND, "backtranslate", "dpo"})
        generators = list(spec.get("generators") or [])
        if generators:
            ours = [f"self_train.round{n}" for n in range(1, record.round + 1)]
            ours += [f"self_train.reverse.round{n}" for n in range(1, record.round + 1)]
            generators = sorted(set(generators) | set(ours))
        with transaction.atomic():
            dataset = do_freeze_dataset(
                self.language, name, by=self.job.created_by, kinds=kinds or None, generators=generators or None,
                include_pairs=spec.get("include_pairs", True), include_docqa=spec.get("include_docqa", True),
                mix=new_mix, dev_percent=float(self.params.get("dev_percent", 5.0)))
            record.dataset, record.mix, record.source_pass_rates = dataset, new_mix, rates
            record.seconds = {**record.seconds, "freeze": round(time.monotonic() - started, 2)}
            record.save(update_fields=["dataset", "mix", "source_pass_rates", "seconds"])
        self.progress.log(f"round {record.round}: froze {dataset} ({dataset.card.get('items', 0)} items) "
                          f"with mix {new_mix} (pass rate by source {rates})")

    def _train(self, record, current, current_path: str) -> None:
        from django.db import transaction
        from django.utils import timezone

        from training.actions import dataset_rows
        from training.models import Checkpoint

        started = time.monotonic()
        if self.params.get("train_from", "start") == "start":
            parent, parent_path = self.start, self.start_path
        else:
            parent, parent_path = current, current_path
        rows = dataset_rows(record.dataset, "sft")
        if not rows:
            raise ValueError(f"{record.dataset} has no sft rows to train on")
        result, config = self._run_training(record.round, "round", parent, parent_path, rows,
                                            eval_rows=dataset_rows(record.dataset, "sft", "dev") or None)
        with transaction.atomic():
            checkpoint, _ = Checkpoint.objects.update_or_create(path=str(result.output_dir), defaults=dict(
                language=self.language, name=f"{self.language.slug}-self-train-job{self.job.pk}-round{record.round}",
                method="sft", base_model=config.base_model, adapter=config.adapter if config.uses_lora else "",
                parent=parent, dataset=record.dataset, config=config.to_mapping(), job=self.job, round=record.round,
                metrics={**result.metrics, "stopped_early": False, "finished_at": timezone.now().isoformat()}))
            record.checkpoint = checkpoint
            record.seconds = {**record.seconds, "train": round(time.monotonic() - started, 2)}
            record.save(update_fields=["checkpoint", "seconds"])
        self.progress.log(f"round {record.round}: trained checkpoint #{checkpoint.pk} "
                          f"(train loss {result.metrics.get('train_loss', float('nan')):.4g})")

    def _reverse(self, record) -> None:
        """Train the code -> description model on the round's dataset with user and
        assistant swapped, then describe accepted code that has no prompt.

        It starts from the base model, not the self-trained checkpoint: a checkpoint tuned
        to answer with code keeps answering with code (measured on the tiny base: three
        steps from the round's checkpoint gave 0 descriptions of 3 programs, only code)."""
        from django.db import transaction
        from django.utils import timezone

        from curation.datasets import fenced
        from training.actions import dataset_rows, do_store_backtranslations, merged_model, unlabelled_code
        from training.backends import LocalBackend
        from training.models import Checkpoint
        from training.self_training import description_of, reverse_rows

        started = time.monotonic()
        targets = list(unlabelled_code(self.language, limit=int(self.params.get("reverse_limit") or 64)))
        rows = reverse_rows(dataset_rows(record.dataset, "sft"))
        if not targets or not rows:
            why = "no accepted code without a description" if not targets else "no rows with prompts"
            self.progress.log(f"round {record.round}: reverse model skipped ({why})")
            return
        self._phase(record.round, 0.9, "reverse")
        steps = self.params.get("reverse_steps")
        base, base_path = self._root()
        result, config = self._run_training(record.round, "reverse", base, base_path, rows,
                                            max_steps=int(steps) if steps else None)
        with transaction.atomic():
            # Not linked to the job: evaluation auto-evaluates a job's checkpoints on code
            # tasks, which a code -> description model cannot do. The round links it.
            reverse, _ = Checkpoint.objects.update_or_create(path=str(result.output_dir), defaults=dict(
                language=self.language, name=f"{self.language.slug}-reverse-job{self.job.pk}-round{record.round}",
                method="sft", base_model=config.base_model, adapter=config.adapter if config.uses_lora else "",
                parent=base, dataset=record.dataset, round=record.round,
                config={**config.to_mapping(), "reverse": True, "self_training_job": self.job.pk},
                metrics={**result.metrics, "finished_at": timezone.now().isoformat()}))
            record.reverse_checkpoint = reverse
            record.save(update_fields=["reverse_checkpoint"])
        backend = LocalBackend(merged_model(reverse), chat=True, threads=self.threads)
        answers = backend.generate([fenced(t.code, self.language.slug) for t in targets], n=1, temperature=0.2,
                                   max_new_tokens=128, seed=int(self.params.get("seed") or 0) + record.round)
        del backend
        labels = [(t.pk, description_of(a[0].text)) for t, a in zip(targets, answers)]
        record.labelled = do_store_backtranslations(self.job, record.round, labels, model_name=reverse.name)
        record.seconds = {**record.seconds, "reverse": round(time.monotonic() - started, 2)}
        record.save(update_fields=["labelled", "seconds"])
        self.progress.log(f"round {record.round}: reverse model #{reverse.pk} described {record.labelled} "
                          f"of {len(targets)} programs (stored for review as backtranslate samples)")

    def _run_training(self, number: int, label: str, parent, parent_path: str, rows, *, eval_rows=None,
                      max_steps: int | None = None):
        from pathlib import Path

        from training.config import TrainingConfig
        from training.runner import train as run_training

        output_dir = Path(self.params["output_dir"]) / f"{label}-{number}"
        values = {**self.params["config"], "method": "sft", "base_model": str(self._folder(parent, parent_path)),
                  "output_dir": str(output_dir)}
        if max_steps:
            values["max_steps"] = max_steps
        config = TrainingConfig.from_mapping(values)
        resume_from = resumable_checkpoint(output_dir, self.progress.log)
        if resume_from:
            self.progress.log(f"{label} {number}: resuming training from {resume_from}")
        low, high = (0.55, 0.9) if label == "round" else (0.9, 0.97)

        def on_log(point: dict) -> None:
            step, total = int(point.get("step") or 0), point.get("max_steps") or 0
            self.progress.update(progress=self._fraction(number, low + (high - low) * (step / total if total else 0)),
                                 counters={"phase": f"training ({label})", "step": step, "max_steps": total,
                                           "loss": point.get("loss")})

        result = run_training(config, rows, eval_rows=eval_rows, progress=on_log, should_stop=self._stop_requested,
                              resume_from=resume_from)
        if result.stopped_early:
            # The saved checkpoint stays in output_dir; a retried job resumes from it.
            raise JobCancelled()
        return result, config

    # -------------------------------------------------------------- helpers

    def _folder(self, checkpoint, fallback: str | None = None):
        from pathlib import Path

        from training.actions import merged_model

        return merged_model(checkpoint) if checkpoint is not None else Path(fallback)

    def _root(self):
        """The base model of the start checkpoint's lineage (the tiny base, or BASE_MODEL)
        as (checkpoint or None, folder); the start itself when it has no checkpoint."""
        checkpoint, seen = self.start, set()
        if checkpoint is None:
            return None, self.start_path
        while checkpoint.parent_id and checkpoint.pk not in seen:
            seen.add(checkpoint.pk)
            checkpoint = checkpoint.parent
        return checkpoint, str(self._folder(checkpoint))

    def _initial_mix(self) -> dict:
        from curation.datasets import DEFAULT_MIX
        from curation.models import Dataset

        if self.params.get("mix"):
            return {**DEFAULT_MIX, **self.params["mix"]}
        latest = (Dataset.objects.filter(language=self.language, name=self.params["dataset"])
                  .order_by("-version").first())
        return dict(latest.mix_weights) if latest and latest.mix_weights else dict(DEFAULT_MIX)

    def _coverage(self) -> dict[str, dict[str, int]]:
        """How many accepted items of each mix source belong to each sampled task."""
        from django.db.models import Count

        from curation.models import PreferencePair, ReviewStatus, Sample

        coverage: dict[str, dict[str, int]] = {}
        accepted = {"language": self.language, "status": ReviewStatus.ACCEPTED, "task__name__in": list(self.tasks),
                    "task__source": "pack"}
        for row in Sample.objects.filter(**accepted).values("kind", "task__name").annotate(n=Count("id")):
            coverage.setdefault(row["kind"], {})[row["task__name"]] = row["n"]
        for row in PreferencePair.objects.filter(**accepted).values("task__name").annotate(n=Count("id")):
            coverage.setdefault("dpo", {})[row["task__name"]] = row["n"]
        return coverage

    def _fraction(self, number: int, within: float) -> float:
        return (number - 1 + within) / self.params["rounds"]

    def _phase(self, number: int, within: float, phase: str) -> None:
        self.progress.update(progress=self._fraction(number, within), counters={"round": number, "phase": phase})

    def _report(self, records: dict, number: int, phase: str) -> None:
        self.progress.update(counters={"round": number, "phase": phase,
                                       "rounds": [records[n].summary() for n in sorted(records)]}, force=True)

    def _stop_requested(self) -> bool:
        # One query every two seconds, not one per training step.
        now = time.monotonic()
        if now - self._last_cancel_check < 2.0:
            return False
        self._last_cancel_check = now
        return self.progress.cancel_requested()

    def _cancel_point(self) -> None:
        if self._stop_requested():
            raise JobCancelled()
