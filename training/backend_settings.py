"""Model backends built from what a user chose and the server's settings: the one place
that knows the teacher endpoint settings and applies the SSRF guard to them."""
from __future__ import annotations

from django.conf import settings

from training.backends import LocalBackend, OpenAICompatibleBackend
from training.endpoints import check_endpoint, guarded_opener

KINDS = ("none", "checkpoint", "local", "openai")
# Checkpoints trained on conversations expect instructions through their chat template
# (evaluation.runner.resolve_prompt_format reads this too).
CHAT_METHODS = ("sft", "dpo", "grpo")


def backend_from_spec(spec: dict | None):
    """{"kind": "checkpoint", "id": N} | {"kind": "local", "path": ...} |
    {"kind": "openai", "base_url", "model"} | {"kind": "none"} | None.

    None (or {}) means the configured teacher endpoint when TEACHER_BASE_URL is set, else
    no backend; {"kind": "none"} is no backend even then. A checkpoint is a registered
    training.models.Checkpoint: its endpoint when its config names one, else its folder run
    locally (a LoRA adapter is merged into its base on load). An OpenAI-compatible URL on a
    private, loopback or link-local address is refused (EndpointRefused) unless its host is
    in ENDPOINT_ALLOWED_HOSTS, and so is any redirect to one."""
    spec = spec or {}
    kind = spec.get("kind")
    if kind == "none":
        return None
    if kind == "checkpoint":
        return _checkpoint_backend(_checkpoint(spec), spec)
    if kind == "local":
        return LocalBackend(spec["path"])
    if kind == "openai" or (not spec and settings.TEACHER_BASE_URL):
        return _openai_backend(spec, api_key=settings.TEACHER_API_KEY)
    if spec:
        raise ValueError(_unknown_kind(kind))
    return None


def check_backend_spec(spec, *, language=None) -> dict:
    """What backend_from_spec would refuse, found without loading a model or calling a
    server: ValueError naming the problem. With `language`, a checkpoint must be one of
    that language's. Returns the spec ({} for none given)."""
    if spec in (None, {}):
        return {}
    if not isinstance(spec, dict):
        raise ValueError('a backend must be a JSON object, like {"kind": "checkpoint", "id": 3}')
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(_unknown_kind(kind))
    if kind == "local" and not (isinstance(spec.get("path"), str) and spec["path"].strip()):
        raise ValueError('a local backend needs "path", the folder of a model')
    if kind == "openai":
        if not (spec.get("base_url") or settings.TEACHER_BASE_URL):
            raise ValueError('an openai backend needs "base_url" (or TEACHER_BASE_URL set on the server)')
    if kind == "checkpoint":
        checkpoint = _checkpoint(spec)
        if language is not None and checkpoint.language_id != language.pk:
            raise ValueError(f"checkpoint #{checkpoint.pk} is not one of {language.name}'s checkpoints")
    return spec


def _unknown_kind(kind) -> str:
    return f"unknown backend kind {kind!r}; use {', '.join(repr(k) for k in KINDS)}"


def _checkpoint(spec: dict):
    from training.models import Checkpoint

    pk = spec.get("id")
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise ValueError('a checkpoint backend needs "id", the number of a registered checkpoint')
    checkpoint = Checkpoint.objects.filter(pk=pk).first()
    if checkpoint is None:
        raise ValueError(f"no checkpoint #{pk}")
    return checkpoint


def endpoint_backend(endpoint: dict):
    """The backend of a checkpoint served elsewhere (its config's {"endpoint": {"base_url",
    "model", "chat", "api_key"}}), through the same SSRF guard as the teacher's."""
    return _openai_backend({"base_url": endpoint["base_url"], "model": endpoint["model"],
                            "chat": endpoint.get("chat")}, api_key=endpoint.get("api_key"))


def _checkpoint_backend(checkpoint, spec: dict):
    endpoint = (checkpoint.config or {}).get("endpoint")
    if endpoint:
        return endpoint_backend(endpoint)
    chat = bool(spec["chat"]) if "chat" in spec else checkpoint.method in CHAT_METHODS
    backend = LocalBackend(checkpoint.path, chat=chat)
    if backend.chat and getattr(backend.tokenizer, "chat_template", None) is None:
        backend.chat = False  # nothing to format with: the prompt goes in as raw text
    return backend


def _openai_backend(spec: dict, *, api_key: str | None):
    url = spec.get("base_url") or settings.TEACHER_BASE_URL
    allowed = settings.ENDPOINT_ALLOWED_HOSTS
    check_endpoint(url, allowed_hosts=allowed)
    extra = {"timeout": float(spec["timeout"])} if spec.get("timeout") else {}
    return OpenAICompatibleBackend(url, spec.get("model") or settings.TEACHER_MODEL,
                                   api_key=api_key or None,
                                   chat=bool(spec.get("chat")), opener=guarded_opener(allowed), **extra)
