"""Model backends built from what a user chose and the server's settings: the one place
that knows the teacher endpoint settings and applies the SSRF guard to them."""
from __future__ import annotations

from django.conf import settings

from training.backends import LocalBackend, OpenAICompatibleBackend
from training.endpoints import check_endpoint, guarded_opener


def backend_from_spec(spec: dict | None):
    """{"kind": "local", "path": ...} | {"kind": "openai", "base_url", "model"} | None.

    None (or {}) means the configured teacher endpoint when TEACHER_BASE_URL is set, else
    no backend. An OpenAI-compatible URL on a private, loopback or link-local address is
    refused (EndpointRefused) unless its host is in ENDPOINT_ALLOWED_HOSTS, and so is any
    redirect to one."""
    spec = spec or {}
    kind = spec.get("kind")
    if kind == "local":
        return LocalBackend(spec["path"])
    if kind == "openai" or (not spec and settings.TEACHER_BASE_URL):
        url = spec.get("base_url") or settings.TEACHER_BASE_URL
        allowed = settings.ENDPOINT_ALLOWED_HOSTS
        check_endpoint(url, allowed_hosts=allowed)
        extra = {"timeout": float(spec["timeout"])} if spec.get("timeout") else {}
        return OpenAICompatibleBackend(url, spec.get("model") or settings.TEACHER_MODEL,
                                       api_key=settings.TEACHER_API_KEY or None, chat=bool(spec.get("chat")),
                                       opener=guarded_opener(allowed), **extra)
    if spec:
        raise ValueError(f"unknown backend kind {kind!r}; use 'local' or 'openai'")
    return None
