"""manage.py synthesize lua --generator syntax.recombine --count 1000 --seed 1

Runs in this process with a progress bar (or only queues it with --queue), then prints
the job's counters."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from curation.jobs import run_with_progress
from curation.models import Job, Language
from synthesis.actions import check_triage, do_start_synthesis
from synthesis.registry import GENERATORS
from synthesis.streaming import DEFAULT_CHUNK


def _json_object(raw: str, option: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{option} must be a JSON object")
    return value


class Command(BaseCommand):
    help = "Run a synthesis generator on a language and store what survives the sandbox and triage."

    def add_arguments(self, parser):
        parser.add_argument("language", help="Language slug, e.g. lua")
        parser.add_argument("--generator", action="append", required=True,
                            help="Registered generator (repeatable); 'all' runs every one")
        parser.add_argument("--count", type=int, default=500, help="Candidates per generator")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--params", default="{}", help="Generator parameters as a JSON object")
        parser.add_argument("--checkpoint", type=int, metavar="ID",
                            help="Sample from this registered checkpoint (its id) of the language")
        parser.add_argument("--backend", default="{}",
                            help='Model backend as JSON: {"kind": "openai", "base_url": ..., "model": ...}, '
                                 '{"kind": "local", "path": ...} or {"kind": "none"}; default: the teacher '
                                 'endpoint when TEACHER_BASE_URL is set')
        parser.add_argument("--triage", default="{}",
                            help='Triage rules for these jobs as JSON, overriding the language\'s setting by setting, '
                                 'e.g. {"near_duplicates": {"threshold": 0.9}}')
        parser.add_argument("--limits", default="{}",
                            help='Sandbox limits as JSON, e.g. {"wall_seconds": 1}; only ever lower than the pack\'s')
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="Candidates stored per transaction")
        parser.add_argument("--queue", action="store_true", help="Only queue the jobs for the Celery workers")

    def handle(self, *args, language, generator, count, seed, params, checkpoint, backend, limits, triage, chunk_size,
               queue, **options):
        from training.backend_settings import check_backend_spec

        lang = Language.objects.filter(slug=language).first()
        if lang is None:
            raise CommandError(f"no language {language!r}; onboard it first (manage.py onboard languages/{language})")
        params = _json_object(params, "--params")
        backend = _json_object(backend, "--backend")
        limits = _json_object(limits, "--limits")
        if checkpoint is not None:
            if backend:
                raise CommandError("give --checkpoint or --backend, not both")
            backend = {"kind": "checkpoint", "id": checkpoint}
        try:
            # Before any job is queued: a typo in the backend or the rules would otherwise
            # fail every job of an --generator all run, one after the other.
            check_backend_spec(backend, language=lang)
            triage = check_triage(_json_object(triage, "--triage"))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        names = sorted(GENERATORS) if generator == ["all"] else generator
        for name in names:
            try:
                job = do_start_synthesis(lang, name, count=count, seed=seed, params=params, backend=backend or None,
                                         limits=limits or None, triage=triage or None, chunk_size=chunk_size,
                                         send=queue)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if queue:
                self.stdout.write(f"queued job {job.pk} ({name})")
                continue
            self._follow(job, name)

    def _follow(self, job: Job, name: str) -> None:
        from synthesis.tasks import synthesize

        run_with_progress(job.pk, synthesize, desc=name)
        self._report(job, name)

    def _report(self, job: Job, name: str) -> None:
        from synthesis.report import GeneratorRates, percent

        job.refresh_from_db()
        counters = ", ".join(f"{k} {v}" for k, v in sorted(job.counters.items()) if k != "chunks_done")
        self.stdout.write(f"{name}: job {job.pk} {job.status}; {counters or 'nothing counted'}")
        rates = GeneratorRates(name)
        rates.counters.update(job.counters)
        shown = [("parses", rates.parse_share), ("runs ok", rates.runner_share),
                 ("negatives fail as intended", rates.negatives_intended_share),
                 ("augmentations survive", rates.augment_survival)]
        shown = [f"{label} {percent(value)}" for label, value in shown if value is not None]
        if shown:
            self.stdout.write(f"  {', '.join(shown)}")
        if job.error:
            self.stderr.write(job.error)
