"""manage.py demo — the whole pipeline on one machine, with progress bars.

Database → onboard the Lua pack → synthesize → sandbox → triage → accept by rule (the demo
stands in for reviewers, and says so) → freeze a dataset → tiny base → CPT then SFT →
evaluate base and trained checkpoint on the pack's test split, its error-fix and doc-QA
suites and HumanEval-Lua → a before/after table. `make demo` then serves the web app.

With CELERY_BROKER_URL set, every job is sent to the Celery workers and the demo follows
its row (scripts/demo-services starts one against Postgres and Redis); otherwise the jobs
run here, in-process, each behind its progress bar.

This lives in `scriptorium/`, the composition root: it is the one command that uses
every app, so no app has to import another against the grain.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "scriptorium-demo")
HUMANEVAL = Path(settings.BASE_DIR).parent / "shared" / "benchmarks" / "multipl-e" / "humaneval-lua.jsonl"
# (generator, candidates) — a few thousand samples across kinds.
SYNTHESIS = [
    ("syntax.recombine", 600), ("syntax.mutate", 600), ("syntax.grammar", 300), ("negatives.mutate", 700),
    ("semantic.properties", 48), ("augment.rename", 400), ("augment.reformat", 300), ("augment.reorder", 100),
    ("augment.for_while", 150), ("docqa.sections", 400), ("dpo.mutants", 300),
]
# Left for people to review once the demo is done (a different seed: new items).
REVIEW_QUEUE_FILL = [("syntax.recombine", 60), ("negatives.mutate", 40), ("dpo.mutants", 60), ("docqa.sections", 40)]
CPT = {"max_steps": 400, "batch_size": 8, "max_length": 256, "learning_rate": 1e-3, "adapter": "full",
       "logging_steps": 5, "save_steps": 50}
SFT = {"max_steps": 800, "batch_size": 8, "max_length": 256, "learning_rate": 5e-4, "adapter": "full",
       "logging_steps": 5, "save_steps": 100}
SUITES = [("lua-test", ("Compile@1", "Pass@1")), ("humaneval-lua", ("Compile@1", "Pass@1")),
          ("lua-errfix", ("FixRate@1",)), ("lua-docqa", ("DocGrounded@1",))]


class Command(BaseCommand):
    help = "Run the whole pipeline on the Lua pack and print Compile@1 / Pass@1 / FixRate@1 / DocGrounded@1 before → after."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Multiply synthesis counts and training steps")
        parser.add_argument("--suites", default=",".join(name for name, _ in SUITES),
                            help="Comma-separated evaluation suites (default: all)")
        parser.add_argument("--job-timeout", type=float, default=3600.0,
                            help="With a broker: give up on a job the workers have not finished after this many s")

    def handle(self, *args, scale: float, suites: str, job_timeout: float, **options):
        # The demo runs each evaluation itself, with a progress bar, rather than letting
        # every registered checkpoint trigger its automatic runs (workers: EVALUATION_AUTO=0).
        settings.EVALUATION_AUTO = False
        self.started = time.monotonic()
        self.wanted = [name.strip() for name in suites.split(",") if name.strip()]
        unknown = set(self.wanted) - {name for name, _ in SUITES}
        if unknown:
            raise CommandError(f"--suites: unknown suite(s) {', '.join(sorted(unknown))}; "
                               f"choose from {', '.join(name for name, _ in SUITES)}")
        self.queued = not settings.CELERY_TASK_ALWAYS_EAGER
        self.job_timeout = job_timeout
        from curation.actions import do_accept_by_rule, do_create_user, do_freeze_dataset, do_onboard_language
        from curation.roles import ADMIN, PM, REVIEWER
        from training.actions import do_build_tiny_base, do_start_training
        from training.tasks import train

        self.step("database")
        call_command("migrate", verbosity=0)
        self.say("ready: " + settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1])
        self.say(self.check_workers())

        self.step("onboard the Lua pack")
        report = do_onboard_language(settings.LANGUAGES_DIR / "lua")
        lua, s = report.language, report.summary
        self.say(f"{lua}: {s['sections']} doc sections, {s['examples']} examples, tasks {s['tasks']}")
        users = {name: do_create_user(name, role=role, password=DEMO_PASSWORD, languages=[lua])
                 for name, role in (("admin", ADMIN), ("pm", PM), ("reviewer", REVIEWER))}

        self.step("synthesize, run in the sandbox, triage")
        # Sent all at once, so the workers take them in parallel; followed in order.
        self.synthesize(lua, SYNTHESIS, scale=scale, seed=0)
        from curation.models import DocQAItem, PreferencePair, Sample

        self.say(f"stored: {Sample.objects.filter(language=lua).count()} samples, "
                 f"{PreferencePair.objects.filter(language=lua).count()} DPO pairs, "
                 f"{DocQAItem.objects.filter(language=lua).count()} doc-QA items")

        self.step("accept by rule (the demo stands in for reviewers)")
        accepted = do_accept_by_rule(lua, by=users["reviewer"])
        self.say(f"accepted {accepted} — audited as bulk decisions by 'reviewer'")

        self.step("freeze a dataset")
        dataset = do_freeze_dataset(lua, "demo", by=users["admin"])
        card = dataset.card
        self.say(f"{dataset}: {card['items']} items, {card['tokens']} tokens, rows {card['rows']}")

        self.step("tiny base model")
        base = do_build_tiny_base(lua)
        self.say(f"{base.name}: {base.path}")

        suites = self.suites(lua)
        before = self.evaluate(base, suites)

        self.step("CPT then SFT")
        cpt_job = do_start_training(lua, method="cpt", dataset=dataset, base="tiny", config=_scaled(CPT, scale),
                                    by=users["admin"], send=self.queued)
        cpt_job = self.run(cpt_job.pk, train, desc="CPT")
        from training.models import Checkpoint

        cpt = Checkpoint.objects.get(job=cpt_job)
        sft_job = do_start_training(lua, method="sft", dataset=dataset, base=cpt.pk, config=_scaled(SFT, scale),
                                    by=users["admin"], send=self.queued)
        sft_job = self.run(sft_job.pk, train, desc="SFT")
        trained = Checkpoint.objects.get(job=sft_job)
        self.say(f"CPT loss {cpt.metrics.get('train_loss', 0):.3f}, SFT loss {trained.metrics.get('train_loss', 0):.3f}")

        after = self.evaluate(trained, suites)
        self.fill_review_queues(lua, scale)
        self.table(before, after)
        self.say(f"demo logins: admin / pm / reviewer, password {DEMO_PASSWORD!r}")

    def fill_review_queues(self, lua, scale: float) -> None:
        """A fresh seed's worth of each kind, left waiting: the demo logins find the focus
        view, DPO pairs and doc-QA items to review rather than empty queues."""
        from curation.models import ReviewStatus, Sample

        self.step("fill the review queues for the demo logins")
        self.synthesize(lua, REVIEW_QUEUE_FILL, scale=scale, seed=1, minimum=10)
        waiting = Sample.objects.filter(language=lua, status=ReviewStatus.PENDING).count()
        self.say(f"{waiting} samples waiting for review (log in as 'reviewer')")

    def synthesize(self, lua, plan, *, scale: float, seed: int, minimum: int = 1) -> None:
        """Start every (generator, count) of `plan` at once — with workers they run in
        parallel — then follow them in order."""
        from synthesis.actions import do_start_synthesis
        from synthesis.tasks import synthesize

        jobs = [(name, do_start_synthesis(lua, name, count=max(minimum, int(count * scale)), seed=seed,
                                          send=self.queued)) for name, count in plan]
        for name, job in jobs:
            job = self.run(job.pk, synthesize, desc=f"{name:22}")
            if job.status != "succeeded":
                self.say(f"{name}: {job.status} {job.error}")

    def check_workers(self) -> str:
        if not self.queued:
            return "no CELERY_BROKER_URL: jobs run in-process"
        from scriptorium.celery import app

        try:
            replies = app.control.ping(timeout=3.0)
        except Exception as exc:  # the broker itself is down or refuses us
            raise CommandError(f"CELERY_BROKER_URL={settings.CELERY_BROKER_URL}: {exc}") from exc
        if not replies:
            raise CommandError(
                f"CELERY_BROKER_URL is set but no Celery worker answers on {settings.CELERY_BROKER_URL}: start one "
                "(scripts/demo-services does) or unset CELERY_BROKER_URL to run in-process")
        return f"jobs go to {len(replies)} Celery worker(s) through {settings.CELERY_BROKER_URL}"

    def run(self, job_id: int, body, *, desc: str):
        from curation.jobs import follow_job, run_with_progress

        if self.queued:
            return follow_job(job_id, desc=desc, timeout=self.job_timeout)
        return run_with_progress(job_id, body, desc=desc)

    def suites(self, lua):
        from evaluation.actions import do_import_multiple, do_sync_pack_suites

        self.step("evaluation suites")
        suites = {s.name: s for s in do_sync_pack_suites(lua)}
        if "humaneval-lua" in self.wanted and HUMANEVAL.is_file():
            suites["humaneval-lua"] = do_import_multiple(lua, HUMANEVAL, name="humaneval-lua")
        elif "humaneval-lua" in self.wanted:
            self.say(f"{HUMANEVAL} not found: HumanEval-Lua is left out")
        suites = {name: suite for name, suite in suites.items() if name in self.wanted}
        self.say(", ".join(f"{name} ({s.problems.count()})" for name, s in suites.items()))
        return suites

    def evaluate(self, checkpoint, suites) -> dict:
        from evaluation.actions import do_start_run
        from evaluation.models import EvalRun
        from evaluation.tasks import evaluate_job

        self.step(f"evaluate {checkpoint.name}")
        figures = {}
        for name, metrics in SUITES:
            suite = suites.get(name)
            if suite is None:
                continue
            run = do_start_run(checkpoint, suite, n=1, temperature=0.0, max_new_tokens=160, trigger="cli",
                               send=self.queued)
            self.run(run.job_id, evaluate_job, desc=f"{name:14}")
            run = EvalRun.objects.get(pk=run.pk)
            for metric in metrics:
                value = (run.metric(metric) or {}).get("value")
                figures[(name, metric)] = (value, run.status)
        return figures

    def table(self, before: dict, after: dict) -> None:
        self.step("results")
        rows = [("suite", "metric", "base", "trained")]
        for key in before:
            rows.append((key[0], key[1], _pct(*before[key]), _pct(*after.get(key, (None, "")))))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for i, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
            if i == 0:
                self.stdout.write("  ".join("-" * w for w in widths))
        self.say(f"total time {time.monotonic() - self.started:.0f} s")

    def step(self, title: str) -> None:
        elapsed = time.monotonic() - self.started
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n[{elapsed:5.0f}s] {title}"))

    def say(self, text: str) -> None:
        self.stdout.write(f"  {text}")


def _scaled(config: dict, scale: float) -> dict:
    return {**config, "max_steps": max(2, int(config["max_steps"] * scale))}


def _pct(value, status) -> str:
    if value is None:
        return f"— ({status})" if status and status != "finished" else "—"
    return f"{100 * value:.1f}%"
