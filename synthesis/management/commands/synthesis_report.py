"""manage.py synthesis_report lua [--json]

Per-generator rates of a language's synthesis jobs: share that parses, share the runner
accepts, share of negatives failing with the intended class, augmentation survival,
validated, stored, duplicates, and what triage rejected by reason."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from curation.models import Language
from synthesis.report import format_table, generator_rates


class Command(BaseCommand):
    help = "Print per-generator synthesis rates for a language, from job counters and stored rows."

    def add_arguments(self, parser):
        parser.add_argument("language", help="Language slug, e.g. lua")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="One JSON object per generator, in a list")

    def handle(self, *args, language, as_json: bool = False, **options):
        lang = Language.objects.filter(slug=language).first()
        if lang is None:
            raise CommandError(f"no language {language!r}")
        rates = generator_rates(lang)
        if as_json:
            self.stdout.write(json.dumps([r.as_dict() for r in rates], indent=2))
            return
        if not rates:
            self.stdout.write(f"No synthesis jobs for {lang} yet (manage.py synthesize {lang.slug} --generator ...).")
            return
        self.stdout.write(f"Synthesis of {lang}, per generator:")
        self.stdout.write(format_table(rates))
