"""manage.py adduser NAME --role reviewer|pm|admin [--password P] [--language lua]"""
from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from curation.actions import do_create_user
from curation.models import Language
from curation.roles import ROLES


class Command(BaseCommand):
    help = "Create or update a user with a role (reviewer, pm, admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", help="Defaults to $SCRIPTORIUM_PASSWORD, else asked for")
        parser.add_argument("--email", default="")
        parser.add_argument("--language", action="append", default=[], help="Language slug the user reviews (repeatable)")

    def handle(self, *args, username, role, password, email, language, **options):
        password = password or os.environ.get("SCRIPTORIUM_PASSWORD")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError("no password: pass --password or set SCRIPTORIUM_PASSWORD")
            password = getpass.getpass(f"Password for {username}: ")
        if len(password) < 8:
            raise CommandError("the password must have at least 8 characters")
        languages = list(Language.objects.filter(slug__in=language))
        missing = set(language) - {lang.slug for lang in languages}
        if missing:
            raise CommandError(f"no language with slug {', '.join(sorted(missing))}; onboard it first")
        do_create_user(username, role=role, password=password, email=email, languages=languages)
        self.stdout.write(f"{username}: {role}")
