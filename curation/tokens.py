"""API tokens: made, checked and revoked here; curation.middleware reads the header."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from curation.models import ApiToken

PREFIX = "scr_"
# last_used_at is a hint for people, not an audit: written at most once a minute per token.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def do_create_api_token(user, name: str) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is not stored and cannot be shown again."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, digest=_digest(raw), prefix=raw[:12])
    return token, raw


def do_revoke_api_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def user_for_token(raw: str):
    """The active user a live token belongs to, or None."""
    if not raw.startswith(PREFIX):
        return None
    token = (ApiToken.objects.select_related("user")
             .filter(digest=_digest(raw), revoked_at__isnull=True, user__is_active=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
