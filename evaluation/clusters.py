"""Where a model fails: failing samples grouped by error type, grammar construct and task category.

Pure. Takes judgements (`problem_id`, `passed`, `verdict`, `error_type`, `error_message`,
`completion`) and the problems they answer.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

EXAMPLES_PER_CLUSTER = 3


@dataclass(frozen=True)
class ErrorCluster:
    key: str  # "syntax_error", "runtime_error:undefined_name", "test_failed", "timeout", "ungrounded:missing_anchor"
    count: int
    share: float  # of all failing samples
    problems: tuple[str, ...]
    examples: tuple[str, ...] = field(default=())  # error messages, most common first


@dataclass(frozen=True)
class ConstructLift:
    """How much more often a grammar construct appears in failing completions than in passing ones.

    lift = P(construct | failing) / P(construct | passing), each with add-one smoothing so a
    construct absent from one side still gets a finite, comparable figure.
    """
    node_type: str
    failing_with: int
    failing_total: int
    passing_with: int
    passing_total: int
    lift: float


@dataclass(frozen=True)
class CategoryStats:
    category: str
    problems: int
    samples: int
    passed: int
    pass_rate: float
    top_errors: tuple[tuple[str, int], ...]


def error_key(judgement) -> str:
    verdict = str(judgement.verdict)
    # A failed assertion is one kind of failure however the pack names it.
    if verdict in ("test_failed", "ok") or not judgement.error_type:
        return verdict
    return f"{verdict}:{judgement.error_type}"


def by_error_type(judgements: Iterable) -> list[ErrorCluster]:
    """Failing samples grouped by verdict and error type, largest first."""
    failing = [j for j in judgements if not j.passed]
    groups: dict[str, list] = defaultdict(list)
    for j in failing:
        groups[error_key(j)].append(j)
    clusters = []
    for key, members in groups.items():
        messages = Counter(_short(j.error_message) for j in members if j.error_message)
        clusters.append(ErrorCluster(
            key=key, count=len(members), share=len(members) / len(failing),
            problems=tuple(dict.fromkeys(j.problem_id for j in members)),
            examples=tuple(m for m, _ in messages.most_common(EXAMPLES_PER_CLUSTER)),
        ))
    return sorted(clusters, key=lambda c: (-c.count, c.key))


def node_types(source: str, grammar: str, *, start_byte: int = 0) -> set[str]:
    """Named node types (and ERROR / MISSING) of the tree that lie at or after `start_byte`."""
    from curation.grammar import parse

    tree = parse(source, grammar)
    found: set[str] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_byte <= start_byte and node.end_byte != node.start_byte:
            continue
        if node.start_byte >= start_byte:
            if node.is_missing:
                found.add("MISSING")
            elif node.is_named and node.parent is not None:
                found.add(node.type)
        stack.extend(node.children)
    return found


def by_construct(judgements: Iterable, problems: Iterable, grammar: str, *, min_failing: int = 2,
                 limit: int = 20) -> list[ConstructLift]:
    """Grammar constructs ranked by lift among failing vs passing code completions.

    Only the completion's own nodes count (for a code-continuation prompt, the prompt's
    nodes are the same in every sample of a problem and would say nothing). Constructs seen
    in fewer than `min_failing` failing samples are left out: a lift on one sample is noise.
    """
    by_id = {p.id: p for p in problems}
    failing_counts: Counter = Counter()
    passing_counts: Counter = Counter()
    failing_total = passing_total = 0
    for j in judgements:
        problem = by_id.get(j.problem_id)
        if problem is None or problem.kind == "docqa":
            continue
        prefix = problem.prefix
        types = node_types(prefix + j.completion, grammar, start_byte=len(prefix.encode("utf-8")))
        if j.passed:
            passing_total += 1
            passing_counts.update(types)
        else:
            failing_total += 1
            failing_counts.update(types)
    rows = []
    for node_type in set(failing_counts) | set(passing_counts):
        f, p = failing_counts[node_type], passing_counts[node_type]
        if f < min_failing:
            continue
        lift = ((f + 1) / (failing_total + 2)) / ((p + 1) / (passing_total + 2))
        rows.append(ConstructLift(node_type, f, failing_total, p, passing_total, round(lift, 4)))
    rows.sort(key=lambda r: (-r.lift, -r.failing_with, r.node_type))
    return rows[:limit]


def by_category(judgements: Iterable, problems: Iterable) -> list[CategoryStats]:
    """Pass rate per task category, worst first."""
    by_id = {p.id: p for p in problems}
    groups: dict[str, list] = defaultdict(list)
    for j in judgements:
        problem = by_id.get(j.problem_id)
        groups[(problem.category if problem else "") or "(none)"].append(j)
    stats = []
    for category, members in groups.items():
        passed = sum(1 for j in members if j.passed)
        errors = Counter(error_key(j) for j in members if not j.passed)
        stats.append(CategoryStats(
            category=category, problems=len({j.problem_id for j in members}), samples=len(members),
            passed=passed, pass_rate=passed / len(members), top_errors=tuple(errors.most_common(3)),
        ))
    return sorted(stats, key=lambda s: (s.pass_rate, -s.samples, s.category))


def _short(message: str, limit: int = 160) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line[:limit]
