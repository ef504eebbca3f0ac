"""Site-wide safety: every page needs a login, cookies and headers are set for production."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC = {"login", "logout", "healthz"}
SAMPLE_KWARGS = {"pk": "1", "slug": "lua", "anchor": "1.1", "kind": "syntax", "name": "x", "id": "1",
                 "job_id": "1", "run_id": "1", "other_id": "2", "version": "1"}


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue  # the Django admin has its own login and staff check
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


def _concrete(route: str) -> str:
    def fill(match):
        name = match.group(2)
        return SAMPLE_KWARGS.get(name, "1")

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


ROUTES = sorted({(r, n) for r, n in _routes(get_resolver().url_patterns) if n not in PUBLIC}, key=lambda x: x[0])


@pytest.mark.django_db
@pytest.mark.parametrize("route,name", ROUTES, ids=[n or r for r, n in ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_gets_no_page_and_changes_nothing(client, route, name, method):
    response = getattr(client, method)(_concrete(route))
    if response.status_code == 302:
        assert "/login/" in response.url
    else:
        # API endpoints answer 401/403 instead of redirecting; a POST-only view may say 405.
        assert response.status_code in (401, 403, 405), (route, response.status_code)


def test_production_cookies_are_secure_and_http_only(settings):
    from django.conf import settings as live

    assert live.SESSION_COOKIE_HTTPONLY is True
    assert live.SESSION_COOKIE_SECURE is True and live.CSRF_COOKIE_SECURE is True
    assert live.SESSION_COOKIE_SAMESITE == "Lax"


@pytest.mark.django_db
def test_csrf_is_enforced_on_posts(reviewer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = client.post("/logout/")
    assert response.status_code == 403


@pytest.mark.django_db
def test_every_response_carries_a_content_security_policy(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
