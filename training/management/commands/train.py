"""manage.py train config.yaml — start a training job from a file.

    language: lua
    dataset: main          # name (latest version) or name@version
    method: sft            # cpt | sft | dpo | grpo
    base: tiny             # tiny | a checkpoint id | a local model folder
    max_steps: 200         # ... any TrainingConfig field

Runs in this process with a progress bar, or only queues it with --queue."""
from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from curation.jobs import run_with_progress
from curation.models import Dataset, Job, Language
from training.actions import do_start_training
from training.config import ConfigError


class Command(BaseCommand):
    help = "Start a CPT/SFT/DPO/GRPO job from a YAML config."

    def add_arguments(self, parser):
        parser.add_argument("config", help="A YAML file")
        parser.add_argument("--queue", action="store_true", help="Only queue it for the training workers")

    def handle(self, *args, config: str, queue: bool, **options):
        path = Path(config)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise CommandError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise CommandError(f"{path}: must be a mapping of settings")
        try:
            language = Language.objects.get(slug=data.pop("language"))
            dataset = _dataset(language, str(data.pop("dataset")))
            method, base = data.pop("method"), data.pop("base", None)
        except KeyError as exc:
            raise CommandError(f"{path}: missing {exc.args[0]}") from None
        except Language.DoesNotExist:
            raise CommandError(f"{path}: no such language; onboard it first") from None
        try:
            job = do_start_training(language, method=method, dataset=dataset, base=base, config=data, send=queue)
        except ConfigError as exc:
            raise CommandError(f"{path}: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if queue:
            self.stdout.write(f"queued training job {job.pk}")
            return
        self._follow(job)

    def _follow(self, job: Job) -> None:
        from training.tasks import train

        job = run_with_progress(job.pk, train, desc=f"{job.params['method']} job {job.pk}")
        self.stdout.write(f"training job {job.pk}: {job.status}")
        if job.error:
            raise CommandError(job.error)


def _dataset(language: Language, spec: str) -> Dataset:
    name, _, version = spec.partition("@")
    datasets = Dataset.objects.filter(language=language, name=name)
    dataset = datasets.filter(version=int(version)).first() if version else datasets.order_by("-version").first()
    if dataset is None:
        raise CommandError(f"no dataset {spec!r} for {language.name}; freeze one first")
    return dataset
