"""manage.py freeze_dataset lua --name main [--kinds semantic,errfix] [--dev-percent 5]"""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from curation.actions import do_freeze_dataset
from curation.models import Language


class Command(BaseCommand):
    help = "Freeze the accepted items of a language into the next version of a dataset."

    def add_arguments(self, parser):
        parser.add_argument("language")
        parser.add_argument("--name", default="main")
        parser.add_argument("--kinds", default="", help="Comma-separated sample kinds (default: all)")
        parser.add_argument("--dev-percent", type=float, default=5.0)
        parser.add_argument("--mix", default="", help='Mix weights as JSON, e.g. {"semantic": 3}')

    def handle(self, *args, language, name, kinds, dev_percent, mix, **options):
        lang = Language.objects.filter(slug=language).first()
        if lang is None:
            raise CommandError(f"no language {language!r}")
        try:
            weights = json.loads(mix) if mix else None
            dataset = do_freeze_dataset(lang, name, kinds=[k for k in kinds.split(",") if k] or None,
                                        dev_percent=dev_percent, mix=weights)
        except (ValueError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from None
        card = dataset.card
        self.stdout.write(f"{dataset}: {card['items']} items, {card['tokens']} tokens, "
                          f"rows {json.dumps(card['rows'])}, {card['decontamination']['excluded']} left out as contaminated")
