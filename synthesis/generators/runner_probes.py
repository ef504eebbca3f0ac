"""Tiny probe programs run in the sandbox to learn how a pack's runner behaves.

Which error class does `1 + {}` raise, does `string.rep()` reject a missing argument, what
does an undefined name report? Asking the runner keeps generators free of per-language
tables. A probe is deterministic, so its answer is cached for the life of the process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

_CACHE: dict[tuple, "Answer"] = {}
_CACHE_LIMIT = 20000


@dataclass(frozen=True)
class Answer:
    verdict: str
    error_type: str
    stdout: str


def ask(pack, programs: Iterable[str]) -> list[Answer]:
    """One answer per program, in order; programs already asked are not run again."""
    from sandbox import run_many

    programs = list(programs)
    key = (str(pack.root), tuple(pack.command))
    todo = sorted({p for p in programs if (key, p) not in _CACHE})
    if todo:
        if len(_CACHE) + len(todo) > _CACHE_LIMIT:
            _CACHE.clear()
        for index, result in run_many(pack, todo):
            verdict = getattr(result.verdict, "value", str(result.verdict))
            _CACHE[(key, todo[index])] = Answer(verdict, result.error_type or "", result.stdout)
    return [_CACHE[(key, p)] for p in programs]


def run_outputs(pack, programs: list) -> list[Answer]:
    """Answers for `sandbox.Program`s (with stdin or tests), not cached."""
    from sandbox import run_many

    answers: list[Answer | None] = [None] * len(programs)
    for index, result in run_many(pack, programs):
        verdict = getattr(result.verdict, "value", str(result.verdict))
        answers[index] = Answer(verdict, result.error_type or "", result.stdout)
    return answers  # type: ignore[return-value]
