"""Synthesis writes: starting a generator job."""
from __future__ import annotations

from django.db import transaction

from curation.jobs import create_job, enqueue
from curation.models import Job, Language
from synthesis.registry import GENERATORS, check_limits
from synthesis.streaming import DEFAULT_CHUNK

MAX_COUNT = 200_000


def do_start_synthesis(language: Language, generator: str, *, count: int, seed: int = 0, params: dict | None = None,
                       backend: dict | None = None, limits: dict | None = None, triage: dict | None = None, by=None,
                       chunk_size: int = DEFAULT_CHUNK, send: bool = True) -> Job:
    """Queue one generator run on the `synthesis` queue.

    Preconditions: the generator is registered; 1 <= count <= MAX_COUNT; params is a dict
    of JSON values. Model-driven generators need `backend`: {"kind": "checkpoint", "id": N}
    (one of this language's registered checkpoints), {"kind": "local", "path": ...} or
    {"kind": "openai", "base_url": ..., "model": ...}; without one the TEACHER_* settings
    are used, if set, and {"kind": "none"} means no model even then. `limits` (e.g.
    {"wall_seconds": 1}) replaces the generator's default sandbox limits
    (synthesis.registry) name by name; the sandbox caps every value at the pack's, so a job
    can never loosen them. `triage` (e.g. {"near_duplicates": {"threshold": 0.9}}) overrides
    the language's triage rules setting by setting; an unknown check or setting is refused.
    With send=False the caller runs the job itself (the CLI does, to show a progress bar).
    """
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; known: {', '.join(sorted(GENERATORS))}")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT}")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be a JSON object")
    limits = check_limits(limits)
    triage = check_triage(triage)
    if (backend or {}).get("kind") == "checkpoint":
        # Checked here because the job's worker cannot tell whose checkpoint it was given.
        # Other kinds are checked when the job builds its backend (an unknown one fails the job).
        from training.backend_settings import check_backend_spec

        check_backend_spec(backend, language=language)
    from synthesis.tasks import run_generator

    with transaction.atomic():
        job = create_job(Job.Kind.SYNTHESIS, language=language, created_by=by, params={
            "generator": generator, "count": count, "seed": seed, "params": params or {}, "chunk_size": chunk_size,
            "backend": backend or {}, "limits": limits, **({"triage": triage} if triage else {})})
        if send:
            enqueue(job, run_generator, queue="synthesis")
    return job


def check_triage(rules: dict | None) -> dict:
    """A job's triage rules as synthesis.triage will apply them: ValueError naming an unknown
    check or setting, an action other than reject/review, or a value of the wrong type."""
    from curation.packs import check_triage_rules

    return check_triage_rules(rules) if rules else {}
