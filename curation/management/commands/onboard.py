"""manage.py onboard languages/lua — validate a language pack and load it.

The pack may also come as an archive (.tar.gz, .tgz, .tar, .zip): it is extracted, member
by member and refusing anything that would land outside, into a fresh folder under
DATA_DIR/packs, then onboarded like any folder. The folder stays: the language reads its
pack again later (synthesis, execution, evaluation), so a temporary one would not do.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from curation.actions import do_onboard_language
from curation.archives import ArchiveRefused, extract_pack, is_archive
from curation.packs import PackInvalid
from sandbox.pack import PackError


class Command(BaseCommand):
    help = "Validate a language pack (docs, examples, tasks, runner) and load it into the database."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The pack's folder, e.g. languages/lua, or an archive of it "
                                         "(.tar.gz, .tgz, .tar, .zip)")

    def handle(self, *args, path: str, **options):
        if is_archive(path):
            report = self._onboard_archive(Path(path))
        else:
            report = self._onboard(path, path)
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

    def _onboard(self, root, shown):
        try:
            return do_onboard_language(root)
        except (PackInvalid, PackError) as exc:
            raise CommandError(f"refused {shown}; nothing was written. {exc}") from None

    def _onboard_archive(self, archive: Path):
        if not archive.is_file():
            raise CommandError(f"refused {archive}; nothing was written. No such file.")
        packs = Path(settings.DATA_DIR) / "packs"
        packs.mkdir(parents=True, exist_ok=True)
        # Named by the archive's bytes: onboarding the same archive again reuses its folder.
        digest = hashlib.sha256()
        with archive.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        stem = archive.name
        for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        home = packs / f"{stem}-{digest.hexdigest()[:12]}"
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=packs))
        created = False
        try:
            try:
                root = extract_pack(archive, incoming / "pack")
            except ArchiveRefused as exc:
                raise CommandError(f"refused {archive}; nothing was written. {exc}") from None
            inside = root.relative_to(incoming / "pack")
            if not home.exists():
                os.rename(incoming / "pack", home)
                created = True
            return self._onboard(home / inside, archive)
        except BaseException:
            if created:
                shutil.rmtree(home, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
