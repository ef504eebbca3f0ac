"""Decontamination: n-gram overlap between an item and the problems models are evaluated
on. Pure. Lives in curation because both synthesis triage and dataset freezing use it."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class HeldOutProblem:
    """A problem models are evaluated on: none of its text may be trained on."""
    id: str
    texts: tuple[str, ...]  # prompt, reference solution, ...


WORDISH = re.compile(r"\w+|[^\w\s]")


class ContaminationIndex:
    """n-gram overlap with held-out problems. Each problem text (prompt, solution) is
    checked on its own: an item is contaminated by it when at least `min_fraction` of the
    text's n-grams occur in the item. The fraction — not a single shared n-gram — is what
    keeps a common idiom (`for _, x in ipairs(xs) do ... end` is 10+ tokens) from marking
    half the corpus; a text shorter than n tokens counts as one n-gram."""

    def __init__(self, problems: Iterable[HeldOutProblem], *, n: int = 10, min_fraction: float = 0.25,
                 ignore_names: bool = False, keep_names: Iterable[str] = ()):
        self.n = n
        self.min_fraction = min_fraction
        self.ignore_names = ignore_names
        self.keep = frozenset(keep_names)
        self._parts: list[tuple[str, int]] = []  # (problem id, number of distinct n-grams)
        self._grams: dict[int, list[int]] = {}
        self._short_lengths: set[int] = set()
        for problem in problems:
            for text in problem.texts:
                grams = self._grams_of(text)
                if not grams:
                    continue
                part = len(self._parts)
                self._parts.append((problem.id, len(grams)))
                for gram in grams:
                    self._grams.setdefault(gram, []).append(part)

    def __len__(self) -> int:
        return len(self._parts)

    def _tokens(self, text: str) -> list[str]:
        tokens = [t.lower() for t in WORDISH.findall(text)]
        if self.ignore_names:
            tokens = ["_id_" if (t[0].isalpha() or t[0] == "_") and t not in self.keep else t for t in tokens]
        return tokens

    def _grams_of(self, text: str, sizes: Iterable[int] | None = None) -> set[int]:
        tokens = self._tokens(text)
        if not tokens:
            return set()
        if sizes is None:  # indexing a held-out text
            if len(tokens) < self.n:
                self._short_lengths.add(len(tokens))
                return {hash(tuple(tokens))}
            return {hash(tuple(tokens[i:i + self.n])) for i in range(len(tokens) - self.n + 1)}
        grams: set[int] = set()
        for size in sizes:
            grams.update(hash(tuple(tokens[i:i + size])) for i in range(len(tokens) - size + 1))
        return grams

    def match(self, text: str) -> tuple[str, float] | None:
        """(held-out problem id, fraction of its text found) for the worst overlap, or None."""
        if not self._parts:
            return None
        grams = self._grams_of(text, {self.n} | self._short_lengths)
        hits: Counter = Counter()
        for gram in grams:
            parts = self._grams.get(gram)
            if parts:
                hits.update(parts)
        best = None
        for part, count in hits.items():
            problem_id, total = self._parts[part]
            fraction = count / total
            if fraction >= self.min_fraction and (best is None or fraction > best[1]):
                best = (problem_id, fraction)
        return best


def heldout_problems(content, benchmarks: Iterable[dict] = ()) -> list[HeldOutProblem]:
    """Every held-out problem: the pack's dev and test tasks (prompt, reference and the
    known-wrong solution) and imported benchmark problems ({"id", "prompt", "solution"...})."""
    problems = [HeldOutProblem(f"task:{t.split}/{t.name}",
                               tuple(x for x in (t.prompt, t.reference, t.wrong) if x.strip()))
                for t in getattr(content, "tasks", ()) if t.split in ("dev", "test")]
    for bench in benchmarks:
        texts = tuple(str(bench[k]) for k in ("prompt", "solution", "canonical_solution", "tests")
                      if bench.get(k) and str(bench[k]).strip())
        problems.append(HeldOutProblem(str(bench["id"]), texts))
    return problems
