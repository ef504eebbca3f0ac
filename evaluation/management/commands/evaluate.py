"""manage.py evaluate --checkpoint 3 --suite humaneval-lua [--n 20] [--mode uplift]

Runs in this process with a progress bar (or only queues it with --queue), then prints the
run's figures. The harness self-test runs first; a failed one makes the run invalid."""
from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from curation.jobs import run_job
from evaluation.actions import MAX_REPAIR_ROUNDS, EvaluationRefused, do_start_run, do_start_uplift
from evaluation.models import EvalRun, Suite
from training.models import Checkpoint


class Command(BaseCommand):
    help = "Evaluate a checkpoint on a suite and store the run (shown on the dashboard)."

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", type=int, required=True, help="Checkpoint id")
        parser.add_argument("--suite", required=True, help="Suite name, e.g. lua-test or humaneval-lua")
        parser.add_argument("--n", type=int, help="Samples per problem (default: the suite's)")
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--limit", type=int, help="Only the suite's first N problems")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--mode", choices=["plain", "assistant", "uplift"], default="plain",
                            help="uplift: a plain run and an assistant run with the same settings")
        parser.add_argument("--repair-rounds", type=int, default=2, choices=range(0, MAX_REPAIR_ROUNDS + 1))
        parser.add_argument("--few-shot", type=int, default=2)
        parser.add_argument("--no-retrieval", action="store_true")
        parser.add_argument("--queue", action="store_true", help="Only queue the run for the eval workers")

    def handle(self, *args, checkpoint, suite, n, temperature, max_new_tokens, limit, seed, mode, repair_rounds,
               few_shot, no_retrieval, queue, **options):
        model = Checkpoint.objects.select_related("language").filter(pk=checkpoint).first()
        if model is None:
            raise CommandError(f"no checkpoint {checkpoint}")
        found = Suite.objects.filter(language=model.language, name=suite).first()
        if found is None:
            names = ", ".join(Suite.objects.filter(language=model.language).values_list("name", flat=True)) or "none"
            raise CommandError(f"no suite {suite!r} for {model.language} (known: {names}); build them with "
                               f"manage.py evaluation_suites {model.language.slug}")
        settings = {k: v for k, v in dict(n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                                          limit=limit).items() if v is not None}
        assistant = dict(repair_rounds=repair_rounds, few_shot=few_shot, retrieval=not no_retrieval)
        try:
            if mode == "uplift":
                runs = list(do_start_uplift(model, found, trigger="cli", send=queue, seed=seed, **assistant, **settings))
            elif mode == "assistant":
                runs = [do_start_run(model, found, trigger="cli", send=queue, seed=seed, mode="assistant", **assistant,
                                     **settings)]
            else:
                runs = [do_start_run(model, found, trigger="cli", send=queue, seed=seed, **settings)]
        except EvaluationRefused as exc:
            raise CommandError(str(exc)) from None
        for run in runs:
            if queue:
                self.stdout.write(f"queued run {run.pk} (job {run.job_id})")
            else:
                self._follow(run)
        if mode == "uplift" and not queue:
            plain, assisted = (EvalRun.objects.get(pk=r.pk) for r in runs)
            if plain.headline is not None and assisted.headline is not None:
                self.stdout.write(f"uplift: {100 * (assisted.headline - plain.headline):+.1f} points "
                                  f"({100 * plain.headline:.1f}% → {100 * assisted.headline:.1f}%)")

    def _follow(self, run: EvalRun) -> None:
        from evaluation.tasks import evaluate_job

        started = time.monotonic()
        worker = threading.Thread(target=run_job, args=(run.job_id, evaluate_job))
        worker.start()
        label = f"run {run.pk} {run.suite.name} ({run.mode})"
        with tqdm(total=100, desc=label, unit="%") as bar:
            while worker.is_alive():
                run.job.refresh_from_db(fields=["progress"])
                bar.n = int(run.job.progress * 100)
                bar.refresh()
                time.sleep(0.5)
            bar.n = 100
            bar.refresh()
        worker.join()
        run.refresh_from_db()
        run.job.refresh_from_db()
        self.stdout.write(f"{label}: {run.status} in {time.monotonic() - started:.1f} s")
        if run.status == EvalRun.Status.INVALID:
            self.stderr.write(run.invalid_reason)
            return
        if run.job.error:
            self.stderr.write(run.job.error)
        for name, m in (run.metrics.get("metrics") or {}).items():
            self.stdout.write(f"  {name:>14}: {100 * m['value']:5.1f}%  [{100 * m['low']:.1f} – {100 * m['high']:.1f}]")
        cost = run.metrics.get("cost") or {}
        if cost.get("samples"):
            per_sample = (run.generation_seconds or 0) / cost["samples"]
            self.stdout.write(f"  {cost['samples']} samples, {cost.get('mean_tokens') or 0:.1f} tokens and "
                              f"{per_sample:.3f} s of generation per sample")
