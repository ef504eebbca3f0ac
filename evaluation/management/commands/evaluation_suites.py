"""manage.py evaluation_suites lua [--import /path/humaneval-lua.jsonl [--name humaneval-lua]]

Builds (or refreshes) the pack's suites and imports MultiPL-E files as evaluation-only
suites, whose problems triage then keeps out of the training data."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from curation.models import Language
from evaluation.actions import EvaluationRefused, do_import_multiple, do_sync_pack_suites
from evaluation.multiple import MultipleFormatError


class Command(BaseCommand):
    help = "Build the pack's evaluation suites and import MultiPL-E benchmark files."

    def add_arguments(self, parser):
        parser.add_argument("language", help="Language slug, e.g. lua")
        parser.add_argument("--import", dest="files", action="append", default=[], help="A MultiPL-E .jsonl file")
        parser.add_argument("--name", help="Suite name for the imported file (default: its stem)")
        parser.add_argument("--no-pack", action="store_true", help="Do not (re)build the pack's suites")

    def handle(self, *args, language, files, name, no_pack, **options):
        lang = Language.objects.filter(slug=language).first()
        if lang is None:
            raise CommandError(f"no language {language!r}; onboard it first (manage.py onboard languages/{language})")
        if name and len(files) != 1:
            raise CommandError("--name goes with exactly one --import")
        suites = [] if no_pack else do_sync_pack_suites(lang)
        for path in files:
            try:
                suites.append(do_import_multiple(lang, path, name=name))
            except (MultipleFormatError, EvaluationRefused) as exc:
                raise CommandError(str(exc)) from None
        for suite in suites:
            count = suite.problems.filter(active=True).count()
            self.stdout.write(f"{suite.name}: {count} {suite.kind} problems ({suite.get_restriction_display()})")
