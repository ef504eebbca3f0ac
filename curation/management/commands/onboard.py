"""manage.py onboard languages/lua — validate a language pack and load it."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from curation.actions import do_onboard_language
from curation.packs import PackInvalid
from sandbox.pack import PackError


class Command(BaseCommand):
    help = "Validate a language pack (docs, examples, tasks, runner) and load it into the database."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The pack's folder, e.g. languages/lua")

    def handle(self, *args, path: str, **options):
        try:
            report = do_onboard_language(path)
        except PackInvalid as exc:
            raise CommandError(f"refused {path}; nothing was written. {exc}") from None
        except PackError as exc:
            raise CommandError(f"refused {path}; nothing was written. {exc}") from None
        s = report.summary
        tasks = ", ".join(f"{n} {split}" for split, n in s["tasks"].items())
        self.stdout.write(f"{report.language.name} {report.language.version}: {s['sections']} doc sections, "
                          f"{s['examples']} examples, tasks: {tasks}")
        if report.changed:
            for kind, counts in report.changes.items():
                if any(counts.values()):
                    self.stdout.write(f"  {kind}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
        else:
            self.stdout.write("  unchanged: the database already matched the pack")
