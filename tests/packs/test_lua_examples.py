"""The Lua pack's examples are what generators grow from: none may carry a held-out task."""
from __future__ import annotations

from curation.packs import read_pack
from synthesis.triage import ContaminationIndex, _keep_names, heldout_problems
from tests.conftest import LUA_PACK


def test_no_example_overlaps_a_dev_or_test_task():
    content = read_pack(LUA_PACK)
    index = ContaminationIndex(heldout_problems(content), keep_names=_keep_names(content.pack))
    # Well under the 25% at which triage rejects: a recombined or mutated example must not
    # drift into a held-out task's territory either.
    strict = ContaminationIndex(heldout_problems(content), min_fraction=0.1, keep_names=_keep_names(content.pack))
    assert {e.name: index.match(e.code) for e in content.examples if index.match(e.code)} == {}
    assert {e.name: strict.match(e.code) for e in content.examples if strict.match(e.code)} == {}


def test_no_train_task_overlaps_a_dev_or_test_task():
    """Train tasks seed transpilation, self-instruct and GRPO prompts: one that shares its
    reference with a held-out task leaks that task's answer into training."""
    content = read_pack(LUA_PACK)
    index = ContaminationIndex(heldout_problems(content), keep_names=_keep_names(content.pack))
    train = [t for t in content.tasks if t.split == "train"]
    assert len(train) >= 40
    assert {t.name: index.match(t.reference) for t in train if index.match(t.reference)} == {}
