"""Semantics-preserving augmentation on the real Lua pack: variants keep their output."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from curation.grammar import parse
from curation.packs import read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.augment import for_while, reformat, rename, reorder
from synthesis.registry import get_generator
from tests.conftest import LUA_PACK

NUMERIC_FOR = {
    "loop": "for_statement", "var": "clause.name", "start": "clause.start", "stop": "clause.end",
    "step": "clause.step", "body": "body", "up": "<=", "down": ">=",
    "as_while": """do
  local {counter}, {limit} = {start}, {stop}
  while {counter} {compare} {limit} do
    local {var} = {counter}
    do
      {body}
    end
    {counter} = {counter} + {step}
  end
end""",
}
TEMPLATES = {"numeric_for": NUMERIC_FOR}
QUICK = {"wall_seconds": 2.0, "cpu_seconds": 1.0}


@pytest.fixture(scope="module")
def source() -> Source:
    return Source(read_pack(LUA_PACK))


def _params(count: int) -> dict:
    return {"count": count, "synthesis": TEMPLATES}


def _survivors(source: Source, candidates) -> list[bool]:
    programs = []
    for c in candidates:
        programs.append(Program(c.code, tests=c.tests, entry_point=c.entry_point))
        programs.append(Program(c.equivalent_to, tests=c.tests, entry_point=c.entry_point))
    results = dict(run_many(source.pack, programs, limits=QUICK))
    return [results[2 * i].ok and results[2 * i + 1].ok and results[2 * i].stdout == results[2 * i + 1].stdout
            for i in range(len(candidates))]


def _words(code: str) -> Counter:
    tree = parse(code, "lua")
    out: Counter = Counter()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            out[node.text.decode()] += 1
        stack.extend(node.children)
    return out


def _fields(code: str) -> list[str]:
    """Names after `.` and `:` in order: fields and methods."""
    tree = parse(code, "lua")
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        prev = node.prev_sibling
        if node.type == "identifier" and prev is not None and prev.type in (".", ":"):
            out.append(node.text.decode())
        stack.extend(reversed(node.children))
    return out


def test_rename_never_touches_builtins(source):
    reserved = set(source.pack.builtins) | set(source.pack.keywords)
    for c in rename(source, _params(60), seed=1):
        before, after = _words(c.equivalent_to), _words(c.code)
        for name in reserved:
            assert before[name] == after[name], name
        assert all(r["from"] not in reserved and r["to"] not in reserved for r in c.metadata["renamed"])


def test_rename_leaves_fields_and_methods_alone(source):
    for c in rename(source, _params(60), seed=2):
        assert _fields(c.code) == _fields(c.equivalent_to)


def test_rename_keeps_task_entry_points(source):
    for c in rename(source, _params(80), seed=3):
        if c.entry_point:
            assert re.search(rf"\b{re.escape(c.entry_point)}\b", c.code)
            assert c.tests


def test_rename_respects_scopes(source):
    """A name bound in two separate scopes may be renamed in one and kept in the other."""
    from synthesis.generators.augment import _bindings, _locals_query
    from synthesis.generators.subtrees import read

    code = ("local function a(n) return n + 1 end\n"
            "local function b(n) return n * 2 end\n"
            "local n = 10\n"
            "print(a(n), b(n))\n")
    tree = read(code, "lua")
    bindings = [b for b in _bindings(tree, _locals_query(source.pack), "identifier") if b.name == "n"]
    assert sorted(len(b.occurrences) for b in bindings) == [2, 2, 3]


def test_reformat_keeps_every_token(source):
    for c in reformat(source, _params(40), seed=4):
        strip = lambda code: re.sub(r"\s+", "", code)  # noqa: E731
        assert strip(c.code) == strip(c.equivalent_to)
        assert c.code != c.equivalent_to


def test_reorder_swaps_independent_statements(source):
    candidates = list(reorder(source, _params(20), seed=5))
    assert candidates
    for c in candidates:
        first, second = c.metadata["swapped"]
        assert c.code.index(second[:30]) < c.code.index(first[:30])


def test_for_to_while_keeps_output(source):
    candidates = list(for_while(source, _params(30), seed=6))
    assert len(candidates) >= 10
    assert all(re.search(r"\bwhile\b", c.code) for c in candidates)
    survived = _survivors(source, candidates)
    assert sum(survived) / len(survived) > 0.95


def test_for_to_while_needs_its_template(source):
    assert list(for_while(source, {"count": 5, "synthesis": {"numeric_for": {"as_while": ""}}}, seed=6)) == []


def test_augment_survival_rate(source):
    candidates = []
    for generate in (rename, reformat, reorder, for_while):
        candidates += list(generate(source, _params(30), seed=7))
    assert {c.metadata["transform"] for c in candidates} == {"rename", "reformat", "reorder", "for_while"}
    assert all(c.kind == "augment" and c.equivalent_to for c in candidates)
    survived = _survivors(source, candidates)
    assert sum(survived) / len(survived) > 0.9


def test_same_seed_gives_same_candidates(source):
    for generate in (rename, reformat, reorder, for_while):
        first = [c.code for c in generate(source, _params(10), seed=8)]
        assert first == [c.code for c in generate(source, _params(10), seed=8)]


def test_generators_are_registered():
    assert get_generator("augment.rename") is rename
    assert get_generator("augment.reformat") is reformat
    assert get_generator("augment.reorder") is reorder
    assert get_generator("augment.for_while") is for_while
