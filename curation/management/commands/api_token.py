"""manage.py api_token NAME [--label ci]    make a token for user NAME (printed once)
manage.py api_token NAME --list             their tokens
manage.py api_token NAME --revoke PREFIX    revoke the token that starts with PREFIX"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from curation.models import ApiToken
from curation.tokens import do_create_api_token, do_revoke_api_token


class Command(BaseCommand):
    help = "Make, list or revoke a user's API tokens (Authorization: Bearer … on /api/ paths)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--label", default="cli", help="What the token is for (shown in lists)")
        parser.add_argument("--list", action="store_true")
        parser.add_argument("--revoke", metavar="PREFIX")

    def handle(self, *args, username, label, list, revoke, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        tokens = ApiToken.objects.filter(user=user).order_by("created_at")
        if list:
            for token in tokens:
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
                self.stdout.write(f"{token.prefix}…  {token.name}  {state}")
            return
        if revoke:
            matches = [t for t in tokens if t.prefix.startswith(revoke) and t.revoked_at is None]
            if len(matches) != 1:
                raise CommandError(f"{len(matches)} live tokens of {username} start with {revoke!r}; need exactly one")
            do_revoke_api_token(matches[0])
            self.stdout.write(f"revoked {matches[0]}")
            return
        _, raw = do_create_api_token(user, label)
        self.stdout.write(raw)
