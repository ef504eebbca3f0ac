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
_ASCII_WORDISH = re.compile(r"(?a)\w+|\S")  # WORDISH on ASCII text without \x1c-\x1f
_ASCII_ODD_SPACE = re.compile(r"[\x1c-\x1f]")


class ContaminationIndex:
    """n-gram overlap with held-out problems. Each problem text (prompt, solution) is
    checked on its own: an item is contaminated by it when at least `min_fraction` of the
    text's n-grams occur in the item. The fraction — not a single shared n-gram — is what
    keeps a common idiom (`for _, x in ipairs(xs) do ... end` is 10+ tokens) from marking
    half the corpus; a text shorter than n tokens counts as one n-gram.

    The held-out n-grams are indexed once, as token tuples; an item's windows are streamed
    (zip over shifted token lists, in C) into a set intersection with that index, so only
    the n-grams it shares with some held-out text reach Python code. Hashing a tuple per
    window in a Python loop was half the CPU of synthesis triage."""

    def __init__(self, problems: Iterable[HeldOutProblem], *, n: int = 10, min_fraction: float = 0.25,
                 ignore_names: bool = False, keep_names: Iterable[str] = ()):
        self.n = n
        self.min_fraction = min_fraction
        self.ignore_names = ignore_names
        self.keep = frozenset(keep_names)
        self._parts: list[tuple[str, int]] = []  # (problem id, number of distinct n-grams)
        self._grams: dict[tuple[str, ...], list[int]] = {}  # n-gram (or a short text's tokens) -> parts
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
        self._sizes = sorted({self.n} | self._short_lengths)
        self._known = frozenset(self._grams)

    def __len__(self) -> int:
        return len(self._parts)

    def _tokens(self, text: str) -> list[str]:
        if text.isascii() and not _ASCII_ODD_SPACE.search(text):
            # Same tokens, faster: ASCII lower-casing keeps every character's class, and in
            # ASCII text the two patterns differ only on \x1c-\x1f (Unicode calls them space).
            tokens = _ASCII_WORDISH.findall(text.lower())
        else:
            tokens = [t.lower() for t in WORDISH.findall(text)]
        if self.ignore_names:
            tokens = ["_id_" if (t[0].isalpha() or t[0] == "_") and t not in self.keep else t for t in tokens]
        return tokens

    def _grams_of(self, text: str) -> set[tuple[str, ...]]:
        """A held-out text's n-grams."""
        tokens = self._tokens(text)
        if not tokens:
            return set()
        if len(tokens) < self.n:
            self._short_lengths.add(len(tokens))
            return {tuple(tokens)}
        return set(_windows(tokens, self.n))

    def match(self, text: str) -> tuple[str, float] | None:
        """(held-out problem id, fraction of its text found) for the worst overlap, or None."""
        if not self._parts:
            return None
        tokens = self._tokens(text)
        shared: set = set()
        for size in self._sizes:
            if len(tokens) >= size:
                # frozenset.intersection(iterable) tests each window against the index in C
                shared |= self._known.intersection(_windows(tokens, size))
        hits: Counter = Counter()
        for gram in shared:
            hits.update(self._grams[gram])
        best = None  # (fraction, -part): on a tie the first held-out text wins, whatever the set order
        for part, count in hits.items():
            fraction = count / self._parts[part][1]
            if fraction >= self.min_fraction and (best is None or (fraction, -part) > best):
                best = (fraction, -part)
        return None if best is None else (self._parts[-best[1]][0], best[0])


def _windows(tokens: list[str], size: int):
    """Every run of `size` consecutive tokens, as tuples."""
    return zip(*(tokens[j:] for j in range(size)))


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
