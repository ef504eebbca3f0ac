"""From candidates to validated items: run every program in the sandbox, keep what behaves
as its generator intended. Pure: no database; the task stores what this returns.

- a positive (expect "ok") is kept when it runs ok (and passes its tests, if any);
- an augmentation is kept only when its stdout and verdict equal its original's;
- a negative is kept when it fails with the intended verdict and error type, and becomes
  an errfix item: broken code + the runner's real message → explanation + fixed code;
- a pair candidate yields (passing, failing) preference pairs;
- a doc-QA candidate is kept when it has an example program and that program runs ok.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

import tree_sitter

from curation.grammar import GrammarUnavailable, language_for
from sandbox import Program, Result
from sandbox.pack import Pack
from synthesis.candidates import Candidate, DocQACandidate, PairCandidate


@dataclass
class Validated:
    """One item ready to store, with the executions that justify it."""

    kind: str  # "sample", "pair" or "docqa"
    candidate: object
    result: Result | None = None  # the stored program's execution
    sample_kind: str = ""
    prompt: str = ""
    code: str = ""
    metadata: dict = field(default_factory=dict)
    rejected_code: str = ""  # pairs
    rejected_result: Result | None = None
    status: str = "pending"  # triage may set "auto_rejected" with a reason
    triage_reason: str = ""
    content_hash: str = ""  # the exact-duplicate key, once someone has computed it
    quality: float | None = None  # a sample's perplexity, when triage scored it (synthesis.chunks)


@dataclass
class ChunkReport:
    items: list[Validated]
    counts: dict[str, int]


def _program(code: str, c) -> Program:
    return Program(code, stdin=getattr(c, "stdin", None), tests=getattr(c, "tests", None),
                   entry_point=getattr(c, "entry_point", None))


def _verdict(result: Result) -> str:
    return str(getattr(result.verdict, "value", result.verdict))


COUNTERS = ("generated", "parsed", "executed", "passed", "pairs", "expect_ok", "runner_ok", "negatives",
            "negatives_intended", "augments", "augment_survived")


def merge_reports(reports: list[ChunkReport]) -> ChunkReport:
    """One report for candidates validated in several batches, in order."""
    counts = dict.fromkeys(COUNTERS, 0)
    for report in reports:
        for key, value in report.counts.items():
            counts[key] = counts.get(key, 0) + value
    return ChunkReport([item for report in reports for item in report.items], counts)


def validate(pack: Pack, candidates: Iterable, run_many: Callable, *, limits: dict | None = None) -> ChunkReport:
    """Run a chunk of candidates (in one sandbox batch) and keep the ones that behave.

    `limits` (optional) lowers the pack's limits for every program of the chunk. The counts
    feed the per-generator rates (`manage.py synthesis_report`):
      parsed / generated — candidates whose code parses;
      runner_ok / expect_ok — programs meant to run that the runner accepted (for pair
        candidates every program counts, so for DPO it is the share of candidates passing);
      negatives_intended / negatives — negatives failing with the intended verdict and type;
      augment_survived / augments — augmentations whose output equals the original's.
    """
    candidates = list(candidates)
    counts = dict.fromkeys(COUNTERS, 0)
    counts["generated"] = len(candidates)
    programs: list[Program] = []
    slots: list[list[int]] = []  # per candidate, indexes into programs

    def add(program: Program) -> int:
        programs.append(program)
        return len(programs) - 1

    for c in candidates:
        if isinstance(c, PairCandidate):
            slots.append([add(Program(code, tests=c.tests, entry_point=c.entry_point)) for code in c.candidates])
        elif isinstance(c, DocQACandidate):
            slots.append([add(Program(c.example_code))] if c.example_code.strip() else [])
        else:
            own = [add(_program(c.code, c))]
            if c.fixed_code is not None:
                own.append(add(_program(c.fixed_code, c)))
            if c.equivalent_to is not None:
                own.append(add(_program(c.equivalent_to, c)))
            slots.append(own)

    results: list[Result | None] = [None] * len(programs)
    batch = run_many(pack, programs) if limits is None else run_many(pack, programs, limits=limits)
    for index, result in batch:
        results[index] = result
    counts["executed"] = len(programs)

    items: list[Validated] = []
    for c, own in zip(candidates, slots):
        rs = [results[i] for i in own]
        if isinstance(c, PairCandidate):
            counts["parsed"] += 1
            counts["expect_ok"] += len(rs)
            counts["runner_ok"] += sum(1 for r in rs if r.ok)
            items.extend(_pairs(c, rs))
            continue
        if isinstance(c, DocQACandidate):
            # Every answer carries an example program that runs: one without is not kept.
            counts["parsed"] += 1
            counts["expect_ok"] += 1
            if rs and rs[0].ok:
                counts["runner_ok"] += 1
                counts["passed"] += 1
                items.append(Validated("docqa", c, rs[0]))
            continue
        item = _judge(pack, c, rs, counts)
        if item is not None:
            counts["passed"] += 1
            items.append(item)
    counts["pairs"] = sum(1 for i in items if i.kind == "pair")
    return ChunkReport(items, counts)


_parsers = threading.local()  # one tree-sitter parser per thread and grammar: making one costs more than a parse


def _parses(pack: Pack, code: str) -> bool:
    from synthesis.generators.subtrees import parsed_before

    known = parsed_before(code, pack.grammar)  # most candidates were parsed by their generator
    if known is not None:
        return known
    parsers = _parsers.__dict__
    parser = parsers.get(pack.grammar)
    if parser is None:
        try:
            parser = parsers[pack.grammar] = tree_sitter.Parser(language_for(pack.grammar))
        except GrammarUnavailable:
            return True  # the runner is the judge where no grammar is installed
    return not parser.parse(code.encode("utf-8")).root_node.has_error


def _judge(pack: Pack, c: Candidate, rs: list[Result], counts: dict) -> Validated | None:
    result = rs[0]
    if c.expect == "ok":
        counts["expect_ok"] += 1
        counts["runner_ok"] += int(result.ok)
        augment = c.equivalent_to is not None
        counts["augments"] += int(augment)
        if not _parses(pack, c.code):
            return None
        counts["parsed"] += 1
        if not result.ok:
            return None
        if augment:
            original = rs[-1]
            if not original.ok or original.stdout != result.stdout:
                return None
            counts["augment_survived"] += 1
        meta = {**c.metadata, "stdout": result.stdout[:4000]}
        if c.tests is not None:
            meta.update(tests=c.tests, entry_point=c.entry_point)
        if augment:
            meta["original"] = c.equivalent_to
        return Validated("sample", c, result, c.kind, c.prompt, c.code, meta)

    # A negative: it must fail the intended way; the fix must then work.
    counts["negatives"] += 1
    counts["parsed"] += int(_parses(pack, c.code))
    if _verdict(result) != c.expect:
        return None
    if c.expect_error_type and result.error_type != c.expect_error_type:
        return None
    counts["negatives_intended"] += 1
    if c.fixed_code is None:
        return None
    fixed = rs[1]
    if not fixed.ok:
        return None
    message = result.error_message or (result.stderr.strip().splitlines() or [""])[0]
    prompt = (f"This {pack.name} program fails.\n\n```{pack.slug}\n{c.code.rstrip()}\n```\n\n"
              f"The runner reports:\n```\n{result.stderr.strip()[:1500]}\n```\n\nExplain the error and fix the program.")
    meta = {**c.metadata, "broken_code": c.code, "error_message": message, "error_type": result.error_type,
            "error_line": result.error_line, "explanation": c.explanation, "intended_verdict": c.expect,
            "intended_error_type": c.expect_error_type}
    if c.tests is not None:
        meta.update(tests=c.tests, entry_point=c.entry_point)
    return Validated("sample", c, fixed, "errfix", prompt, c.fixed_code, meta)


def _pairs(c: PairCandidate, rs: list[Result]) -> list[Validated]:
    from synthesis.generators.dpo import pairs_from_verdicts

    result_of = {}
    for code, r in zip(c.candidates, rs):
        result_of.setdefault(code, r)
    pairs = []
    for good, bad in pairs_from_verdicts(c.candidates, rs):
        bad_r = result_of[bad]
        pairs.append(Validated("pair", c, result_of[good], prompt=c.prompt, code=good, rejected_code=bad,
                               rejected_result=bad_r,
                               metadata={**c.metadata, "tests": c.tests, "entry_point": c.entry_point,
                                         "rejected_verdict": _verdict(bad_r)}))
    return pairs
