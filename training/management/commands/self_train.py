"""manage.py self_train lua --rounds 2 --k 4 — run the self-training loop.

Starts from the tiny base unless --start names a checkpoint id or a model folder. Runs in
this process and prints each round's pass rate, or only queues the job with --queue."""
from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError

from curation.jobs import run_job
from curation.models import Job, Language
from training.actions import do_start_self_training
from training.config import ConfigError


class Command(BaseCommand):
    help = "Self-train a language's model: sample, run, keep what passes, retrain, for some rounds."

    def add_arguments(self, parser):
        parser.add_argument("language", help="Language slug, like lua")
        parser.add_argument("--rounds", type=int, default=2)
        parser.add_argument("--k", type=int, default=4, help="Candidates per task prompt")
        parser.add_argument("--start", default="tiny", help="tiny, a checkpoint id, or a model folder")
        parser.add_argument("--dataset", default="self-train", help="Dataset name each round freezes a version of")
        parser.add_argument("--temperature", type=float, default=0.8)
        parser.add_argument("--max-new-tokens", type=int, default=256)
        parser.add_argument("--tasks", default="", help="Comma-separated train task names (default all)")
        parser.add_argument("--tasks-limit", type=int, default=None, help="At most this many train tasks")
        parser.add_argument("--accept", choices=["auto", "review"], default="auto",
                            help="Accept passing programs, or send them to review")
        parser.add_argument("--train-from", choices=["start", "previous"], default="start")
        parser.add_argument("--perplexity-quantile", type=float, default=None,
                            help="Filter passing programs above this quantile of base-model perplexity")
        parser.add_argument("--keep-high-share", type=float, default=0.1)
        parser.add_argument("--target", type=float, default=None, help="Stop once a round's pass rate reaches this")
        parser.add_argument("--min-gain", type=float, default=None, help="Stop when a round gains less than this")
        parser.add_argument("--reverse", action="store_true", help="Train the code → description model and label code")
        parser.add_argument("--max-steps", type=int, default=50, help="Training steps per round")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--learning-rate", type=float, default=2e-4)
        parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 on a shared box)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--queue", action="store_true", help="Only queue it for the training workers")

    def handle(self, *args, **o):
        language = Language.objects.filter(slug=o["language"]).first()
        if language is None:
            raise CommandError(f"no language {o['language']!r}; onboard it first")
        config = {"max_steps": o["max_steps"], "batch_size": o["batch_size"], "learning_rate": o["learning_rate"],
                  "seed": o["seed"]}
        if o["threads"]:
            config["threads"] = o["threads"]
        perplexity = {"on": o["perplexity_quantile"] is not None, "quantile": o["perplexity_quantile"] or 0.9,
                      "keep_high_share": o["keep_high_share"]}
        try:
            job = do_start_self_training(
                language, start=o["start"], dataset=o["dataset"], rounds=o["rounds"], k=o["k"],
                temperature=o["temperature"], max_new_tokens=o["max_new_tokens"], tasks_limit=o["tasks_limit"],
                tasks=[t.strip() for t in o["tasks"].split(",") if t.strip()] or None,
                accept_rule=o["accept"], train_from=o["train_from"], perplexity=perplexity,
                stop={"target": o["target"], "min_gain": o["min_gain"]}, reverse=o["reverse"], config=config,
                seed=o["seed"], send=o["queue"])
        except ConfigError as exc:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        if o["queue"]:
            self.stdout.write(f"queued self-training job {job.pk}")
            return
        self._follow(job)

    def _follow(self, job: Job) -> None:
        from training.tasks import run_self_training

        worker = threading.Thread(target=run_job, args=(job.pk, run_self_training))
        worker.start()
        reported = 0
        while True:
            # Read after checking: rounds the worker finished just before it ended are still printed.
            alive = worker.is_alive()
            job.refresh_from_db(fields=["counters", "status"])
            finished = [r for r in job.counters.get("rounds", []) if r.get("finished")]
            for r in finished[reported:]:
                self.stdout.write(f"round {r['round']}: {r['passed']}/{r['samples']} passed on {r['problems']} "
                                  f"problems, pass@1 {r['pass_at_1']:.3f}, pass@k {r['pass_at_k']:.3f}; "
                                  f"stored {r['stored']} samples, {r['pairs']} pairs; checkpoint {r['checkpoint']}")
            reported = len(finished)
            if not alive:
                break
            time.sleep(1.0)
        worker.join()
        job.refresh_from_db()
        self.stdout.write(f"self-training job {job.pk}: {job.status}")
        if job.error:
            raise CommandError(job.error)
