"""Negatives on the real Lua pack: each mutation fails the way its label says, in the sandbox."""
from __future__ import annotations

from collections import Counter

import pytest

from curation.packs import read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.negatives import KINDS, mutate
from synthesis.registry import get_generator
from tests.conftest import LUA_PACK

TEMPLATES = {"print": "print({value})"}
QUICK = {"wall_seconds": 2.0, "cpu_seconds": 1.0}


@pytest.fixture(scope="module")
def source() -> Source:
    return Source(read_pack(LUA_PACK))


@pytest.fixture(scope="module")
def negatives(source):
    return list(mutate(source, {"count": 200, "synthesis": TEMPLATES}, seed=1))


def test_negatives_fail_with_intended_error_class(source, negatives):
    programs = [Program(c.code, tests=c.tests, entry_point=c.entry_point) for c in negatives]
    results = dict(run_many(source.pack, programs, limits=QUICK))
    misses = [(c.metadata["mutation"], c.expect_error_type, results[i].error_type)
              for i, c in enumerate(negatives)
              if str(results[i].verdict) != c.expect or results[i].error_type != c.expect_error_type]
    share = 1 - len(misses) / len(negatives)
    assert share > 0.95, misses


def test_negatives_cover_each_mutation_kind(negatives):
    counts = Counter(c.metadata["mutation"] for c in negatives)
    assert set(counts) == set(KINDS)
    classes = {c.expect_error_type for c in negatives}
    assert {"syntax", "undefined_name", "bad_argument", "arithmetic_type", "concat_type", "compare_type",
            "index_type"} <= classes


def test_every_negative_keeps_the_working_program_as_its_fix(source, negatives):
    originals = {e.code for e in source.content.examples} | {t.reference for t in source.content.tasks}
    for c in negatives:
        assert c.kind == "negative"
        assert c.fixed_code in originals and c.code != c.fixed_code
        assert c.expect in ("syntax_error", "runtime_error")


def test_fixes_of_negatives_run(source, negatives):
    sample = {c.fixed_code: c for c in negatives}.values()
    programs = [Program(c.fixed_code, tests=c.tests, entry_point=c.entry_point) for c in sample]
    assert all(r.ok for _, r in run_many(source.pack, programs, limits=QUICK))


def test_explanations_name_what_is_wrong(negatives):
    for c in negatives:
        kind = c.metadata["mutation"]
        if kind == "drop_closer":
            assert f"`{c.metadata['token']}`" in c.explanation
        elif kind.startswith("misspell"):
            assert c.metadata["misspelled"] in c.explanation and c.metadata["name"].split(".")[-1] in c.explanation
        elif kind in ("operand_type", "unary_type"):
            assert f"`{c.metadata['operator']}`" in c.explanation
        assert c.explanation.endswith(".")


def test_task_negatives_carry_the_tests_that_make_them_run(source, negatives):
    from_tasks = [c for c in negatives if c.parent.startswith("task:")]
    assert from_tasks
    for c in from_tasks:
        assert c.tests and c.entry_point


def test_held_out_tasks_are_never_mutated(source, negatives):
    held_out = {f"task:{t.name}" for t in source.content.tasks if t.split != "train"}
    assert not held_out & {c.parent for c in negatives}


def test_without_a_print_template_only_syntax_negatives_are_made(source):
    candidates = list(mutate(source, {"count": 20, "synthesis": {"print": ""}}, seed=2))
    assert candidates and {c.metadata["mutation"] for c in candidates} == {"drop_closer"}


def test_same_seed_gives_same_candidates(source):
    params = {"count": 30, "synthesis": TEMPLATES}
    first = [(c.code, c.expect_error_type) for c in mutate(source, params, seed=5)]
    assert first == [(c.code, c.expect_error_type) for c in mutate(source, params, seed=5)]
    assert first != [(c.code, c.expect_error_type) for c in mutate(source, params, seed=6)]


def test_generator_is_registered():
    assert get_generator("negatives.mutate") is mutate
