"""What generators produce: candidates, before the sandbox has judged them.

A generator is a pure function `generate(source, params, seed) -> Iterable[Candidate |
PairCandidate | DocQACandidate]`; `synthesis.pipeline` runs the candidates and keeps what
behaves as the generator expected.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from curation.packs import PackContent


@dataclass
class Candidate:
    """One program to become a Sample.

    expect: the verdict the generator intends — "ok" for positives; "syntax_error" or
        "runtime_error" for negatives (with `expect_error_type`, a pack error-type name).
    fixed_code: for negatives, the working program the mutation broke; the pipeline
        turns a negative that fails as intended into an errfix sample (broken code, the
        real message, `explanation`, fixed code).
    equivalent_to: for augmentations, the original program; the candidate is kept only
        if its stdout and verdict are identical to the original's.
    """

    kind: str
    code: str
    prompt: str = ""
    tests: list | None = None
    entry_point: str | None = None
    stdin: str | None = None
    expect: str = "ok"
    expect_error_type: str | None = None
    fixed_code: str | None = None
    explanation: str = ""
    equivalent_to: str | None = None
    parent: str | None = None  # e.g. "example:closures.lua", "task:sum_list"
    task: str | None = None  # a pack task name whose tests this candidate answers
    model: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class PairCandidate:
    """Several programs for one prompt; the pipeline keeps (passing, failing) pairs."""

    prompt: str
    candidates: list[str]
    tests: list
    entry_point: str
    task: str | None = None
    model: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class DocQACandidate:
    question: str
    answer: str
    cited_anchors: list[str]
    example_code: str = ""
    model: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class Source:
    """What a generator reads: the pack's content, plus accepted samples' code to grow from."""

    content: PackContent
    accepted: list[str] = field(default_factory=list)

    @property
    def pack(self):
        return self.content.pack
