"""DPO pairs: several programs for one task prompt; the sandbox decides which pass.

Without a model the candidates for a task are its reference, its known-wrong solution and
mutants of the reference made on the tree-sitter parse — swap a comparison operator, swap
`+`/`-`, swap the pack's `and`/`or`, move an integer literal by ±1, drop a statement from a
nested block. The mutations read only node kinds (anonymous operator leaves, digit-only
literals, children of block-like nodes) and the pack's lexicon, so any grammar works.
With `params["backend"]` the candidates are k sampled completions (plus the reference).

The pipeline runs every candidate against the task's tests and calls `pairs_from_verdicts`.

Only `train` tasks are used unless `params["splits"]` says otherwise: a pair built on a dev
or test task would leak its solution into training.

params:
  splits: task splits to use (default ["train"])
  tasks: task names to use (default all in the splits); limit: at most this many tasks
  mutants: mutants per task (default 4)
  backend, k (default 4), temperature (default 0.8), include_reference (default True)
"""
from __future__ import annotations

import random
from typing import Iterator, Sequence

from curation.grammar import GrammarUnavailable, parse
from synthesis.candidates import PairCandidate, Source
from synthesis.prompts import backend_name, extract_code, sample

COMPARISON_SWAPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
NOT_EQUAL = ("~=", "!=", "/=", "<>")
BLOCK_WORDS = ("block", "body", "suite", "statements")

# Which failing candidate makes the better "rejected" side. A program that runs and
# returns a wrong answer is a near miss: the pair then teaches what the task means, where
# a crash or a syntax error mostly teaches the language's surface, which SFT covers already.
# So test failures first, then runtime errors, then resource-limit verdicts, then syntax
# errors. `sandbox_error` is never used: it says nothing about the program.
REJECT_PREFERENCE = ("test_failed", "runtime_error", "timeout", "memory_limit", "output_limit", "syntax_error")


def generate(source: Source, params: dict, seed: int) -> Iterator[PairCandidate]:
    content = source.content
    pack = content.pack
    rng = random.Random(seed)
    splits = set(params.get("splits", ["train"]))
    tasks = [t for t in content.tasks if t.split in splits]
    if params.get("tasks"):
        wanted = set(params["tasks"])
        tasks = [t for t in tasks if t.name in wanted]
    if params.get("limit") is not None:
        tasks = tasks[: int(params["limit"])]

    backend = params.get("backend")
    if backend is not None:
        yield from _sampled_pairs(pack, tasks, params, seed)
        return

    per_task = int(params.get("mutants", 4))
    for task in tasks:
        codes, origins = [task.reference], ["reference"]
        if task.wrong.strip():
            codes.append(task.wrong)
            origins.append("wrong")
        for code, kind in mutants(task.reference, pack, rng, per_task):
            if code not in codes:
                codes.append(code)
                origins.append(f"mutant:{kind}")
        if len(codes) < 2:
            continue
        yield PairCandidate(prompt=task.prompt, candidates=codes, tests=task.tests, entry_point=task.entry_point,
                            task=task.name, metadata={"origins": origins, "split": task.split})


def _sampled_pairs(pack, tasks, params, seed) -> Iterator[PairCandidate]:
    backend = params["backend"]
    k = int(params.get("k", 4))
    prompts = [solve_prompt(task.prompt, pack) for task in tasks]
    answers = sample(backend, prompts, n=k, seed=seed, temperature=float(params.get("temperature", 0.8)),
                     max_new_tokens=int(params.get("max_new_tokens", 512)))
    for task, texts in zip(tasks, answers):
        codes, origins = [], []
        if params.get("include_reference", True):
            codes.append(task.reference)
            origins.append("reference")
        for i, text in enumerate(texts):
            code = extract_code(text, pack)
            if code.strip() and code not in codes:
                codes.append(code)
                origins.append(f"sample:{i}")
        if len(codes) < 2:
            continue
        yield PairCandidate(prompt=task.prompt, candidates=codes, tests=task.tests, entry_point=task.entry_point,
                            task=task.name, model=backend_name(backend),
                            metadata={"origins": origins, "split": task.split})


def solve_prompt(task_prompt: str, pack) -> str:
    return (f"Solve this task in {pack.name}.\n\n{task_prompt.strip()}\n\n"
            f"Reply with the {pack.name} code only, in a ```{pack.slug} block.")


# ---------------------------------------------------------------- pairs

def _verdict_name(verdict) -> str:
    verdict = getattr(verdict, "verdict", verdict)  # a sandbox Result, a Verdict or a string
    return str(getattr(verdict, "value", verdict))


def pairs_from_verdicts(candidates: Sequence[str], verdicts: Sequence, *, max_pairs: int | None = None
                        ) -> list[tuple[str, str]]:
    """(chosen, rejected) pairs: chosen passed (`ok`), rejected failed.

    Rejected candidates are taken in REJECT_PREFERENCE order (a wrong answer before a
    crash before a syntax error; ties keep the given order). By default every program is
    used at most once, so there are min(#passing, #failing) pairs and one good solution
    cannot dominate a prompt's pairs; `max_pairs` above that reuses passing ones round-robin
    against the remaining failures. Identical programs (after trimming) count once, and a
    program that both passed and failed (flaky) is left out of both sides.
    """
    if len(candidates) != len(verdicts):
        raise ValueError(f"{len(candidates)} candidates but {len(verdicts)} verdicts")
    outcomes: dict[str, set[str]] = {}
    order: list[str] = []
    first: dict[str, str] = {}
    for code, verdict in zip(candidates, verdicts):
        key = code.strip()
        if not key:
            continue
        if key not in outcomes:
            outcomes[key] = set()
            order.append(key)
            first[key] = code
        outcomes[key].add(_verdict_name(verdict))
    passing = [first[k] for k in order if outcomes[k] == {"ok"}]
    rank = {name: i for i, name in enumerate(REJECT_PREFERENCE)}
    failing = [(min(rank[v] for v in outcomes[k]), i, first[k]) for i, k in enumerate(order)
               if "ok" not in outcomes[k] and outcomes[k] <= set(rank)]
    failing.sort()
    if not passing or not failing:
        return []
    count = min(len(passing), len(failing)) if max_pairs is None else min(max_pairs, len(failing))
    return [(passing[i % len(passing)], failing[i][2]) for i in range(count)]


# ---------------------------------------------------------------- mutations

def mutation_sites(code: str, pack) -> list[tuple[str, int, int, bytes]]:
    """Every single-edit mutation of `code`: (kind, start byte, end byte, replacement)."""
    try:
        tree = parse(code, pack.grammar)
    except GrammarUnavailable:
        return []
    operators = set(pack.operators)
    keywords = set(pack.keywords)
    allowed = (lambda op: op in operators) if operators else (lambda op: True)
    not_equal = next((op for op in NOT_EQUAL if op in operators), "!=" if not operators else None)
    swaps = {a: b for a, b in COMPARISON_SWAPS.items() if allowed(a) and allowed(b)}
    if not_equal and allowed("=="):
        swaps["=="], swaps[not_equal] = not_equal, "=="
    logic = {"and": "or", "or": "and"} if {"and", "or"} <= keywords else {}

    sites: list[tuple[str, int, int, bytes]] = []
    root = tree.root_node
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if node.type in ("ERROR",) or node.is_missing:
            continue
        parent = node.parent
        binary = parent is not None and parent.named_child_count >= 2
        if not node.is_named and node.child_count == 0:
            if node.type in swaps and binary:
                sites.append(("compare", node.start_byte, node.end_byte, swaps[node.type].encode()))
            elif node.type in ("+", "-") and binary and allowed("+") and allowed("-"):
                sites.append(("arith", node.start_byte, node.end_byte, (b"-" if node.type == "+" else b"+")))
            elif node.type in logic and binary:
                sites.append(("logic", node.start_byte, node.end_byte, logic[node.type].encode()))
            continue
        text = node.text.decode("utf-8", "replace") if node.text is not None else ""
        if node.is_named and node.child_count == 0 and text.isdigit() and len(text) < 12:
            value = int(text)
            for delta in (1, -1):
                if value + delta >= 0:
                    sites.append(("literal", node.start_byte, node.end_byte, str(value + delta).encode()))
        if (node.is_named and parent is not None and parent is not root and "comment" not in node.type
                and any(word in parent.type for word in BLOCK_WORDS)):
            sites.append(("drop", node.start_byte, node.end_byte, b""))
    return sites


def mutants(code: str, pack, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to `limit` distinct mutants of `code` that still parse, spread over the kinds of
    mutation (round-robin), chosen by `rng`."""
    sites = mutation_sites(code, pack)
    rng.shuffle(sites)
    by_kind: dict[str, list] = {}
    for site in sites:
        by_kind.setdefault(site[0], []).append(site)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    ordered = []
    while any(by_kind.values()):
        for kind in kinds:
            if by_kind[kind]:
                ordered.append(by_kind[kind].pop())
    source = code.encode("utf-8")
    out: list[tuple[str, str]] = []
    seen = {code}
    for kind, start, end, replacement in ordered:
        if len(out) >= limit:
            break
        mutated = _drop_blank_line(source[:start] + replacement + source[end:], start) if kind == "drop" else \
            source[:start] + replacement + source[end:]
        text = mutated.decode("utf-8", "replace")
        if text in seen:
            continue
        seen.add(text)
        try:
            if parse(text, pack.grammar).root_node.has_error:
                continue
        except GrammarUnavailable:
            continue
        out.append((text, kind))
    return out


def _drop_blank_line(source: bytes, at: int) -> bytes:
    line_start = source.rfind(b"\n", 0, at) + 1
    line_end = source.find(b"\n", at)
    line_end = len(source) if line_end == -1 else line_end
    if source[line_start:line_end].strip() == b"":
        return source[:line_start] + source[line_end + 1:]
    return source
