"""API tokens: a script authenticates with `Authorization: Bearer …` on /api/ paths, with
its user's role, without a session or CSRF; a wrong or revoked token is 401; web pages
ignore tokens; only a digest is stored."""
from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from curation.models import ApiToken
from curation.tokens import do_create_api_token, do_revoke_api_token

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_pm_token_reads_the_api_without_a_session(pm):
    _, raw = do_create_api_token(pm, "dashboard script")
    response = Client().get(reverse("evaluation-api-runs"), **_bearer(raw))
    assert response.status_code == 200
    assert response.json() == {"runs": []}


def test_token_posts_without_csrf_and_reaches_the_view(admin_user):
    _, raw = do_create_api_token(admin_user, "ci")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("evaluation-api-runs"), data=json.dumps({"suite": "lua-test"}),
                           content_type="application/json", **_bearer(raw))
    # Past CSRF and authentication: the view itself refuses the incomplete body.
    assert response.status_code == 400
    assert "checkpoint" in response.json()["error"]


def test_token_keeps_its_users_role(reviewer):
    _, raw = do_create_api_token(reviewer, "reviewer script")
    response = Client(enforce_csrf_checks=True).post(reverse("training-api-start-job"), data="{}",
                                                     content_type="application/json", **_bearer(raw))
    assert response.status_code == 403


def test_revoked_token_is_refused_with_401(pm):
    token, raw = do_create_api_token(pm, "old")
    do_revoke_api_token(token)
    response = Client().get(reverse("evaluation-api-runs"), **_bearer(raw))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid or revoked API token"}


def test_wrong_token_is_401_even_beside_a_valid_session(pm):
    client = Client()
    client.force_login(pm)
    response = client.get(reverse("evaluation-api-runs"), **_bearer("scr_not-a-real-token"))
    assert response.status_code == 401


def test_token_of_a_deactivated_user_is_refused(pm):
    _, raw = do_create_api_token(pm, "script")
    pm.is_active = False
    pm.save(update_fields=["is_active"])
    assert Client().get(reverse("evaluation-api-runs"), **_bearer(raw)).status_code == 401


def test_web_pages_ignore_tokens(admin_user):
    _, raw = do_create_api_token(admin_user, "ci")
    response = Client().get("/review/", **_bearer(raw))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_only_the_digest_of_a_token_is_stored(pm):
    token, raw = do_create_api_token(pm, "script")
    token.refresh_from_db()
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.digest, token.prefix, token.name}
    assert raw.startswith(token.prefix) and len(token.prefix) == 12


def test_command_makes_lists_and_revokes_tokens(pm, capsys):
    call_command("api_token", pm.username, "--label", "nightly")
    raw = capsys.readouterr().out.strip()
    assert Client().get(reverse("evaluation-api-runs"), **_bearer(raw)).status_code == 200
    call_command("api_token", pm.username, "--list")
    assert f"{raw[:12]}…  nightly  live" in capsys.readouterr().out
    call_command("api_token", pm.username, "--revoke", raw[:12])
    assert ApiToken.objects.get(prefix=raw[:12]).revoked_at is not None
    assert Client().get(reverse("evaluation-api-runs"), **_bearer(raw)).status_code == 401


def test_tokens_page_shows_a_new_token_once_and_revokes_it(reviewer):
    client = Client()
    client.force_login(reviewer)
    response = client.post(reverse("curation-list-tokens"), {"label": "my script"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    raw = response.context["made"]
    assert raw in response.content.decode()
    token = ApiToken.objects.get(user=reviewer)
    assert raw not in client.get(reverse("curation-list-tokens")).content.decode()
    response = client.post(reverse("curation-revoke-token", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_nobody_revokes_another_users_token(reviewer, admin_user):
    token, _ = do_create_api_token(reviewer, "theirs")
    client = Client()
    client.force_login(admin_user)
    assert client.post(reverse("curation-revoke-token", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
