"""Storing a validated chunk: every kind with its executions, in bulk, nothing twice."""
from __future__ import annotations

import pytest
from django.db import transaction

from curation.models import DocQAItem, Execution, PreferencePair, Sample
from curation.packs import read_pack
from sandbox import run_many
from synthesis.candidates import Candidate, DocQACandidate, PairCandidate
from synthesis.pipeline import validate
from synthesis.store import store_chunk
from tests.conftest import LUA_PACK

pytestmark = pytest.mark.django_db

TESTS = [{"args": [2, 3], "expected": 5}, {"args": [0, 0], "expected": 0}]


@pytest.fixture(scope="module")
def pack():
    return read_pack(LUA_PACK).pack


def _store(lua, pack, report, **kwargs):
    with transaction.atomic():
        return store_chunk(lua, pack, report, job=None, generator="test.store", seed=7, licence="MIT", **kwargs)


def _mixed_report(pack, n=5):
    candidates = [Candidate("syntax", f"print({i} * 2)", prompt=f"Double {i}.", parent=f"example:e{i}")
                  for i in range(n)]
    candidates.append(PairCandidate("Write add(a, b).", ["function add(a, b) return a + b end",
                                                         "function add(a, b) return a - b end"], TESTS, "add"))
    candidates.append(DocQACandidate("What does # do?", "It gives the length (§3.4.7).", ["§3.4.7"],
                                     example_code="print(#'abc')"))
    return validate(pack, candidates, run_many)


def test_every_kind_is_stored_with_its_executions_and_provenance(lua, pack):
    counts = _store(lua, pack, _mixed_report(pack))
    assert counts == {"stored": 7, "duplicates": 0}
    sample = Sample.objects.get(language=lua, prompt="Double 3.")
    assert (sample.generator, sample.seed, sample.licence, sample.verdict) == ("test.store", 7, "MIT", "ok")
    assert sample.metadata["parent_ref"] == "example:e3" and sample.metadata["stdout"] == "6\n"
    assert sample.executions.get().stdout == "6\n"
    pair = PreferencePair.objects.select_related("chosen_execution", "rejected_execution").get(language=lua)
    assert pair.chosen_execution.verdict == "ok" and pair.rejected_execution.verdict == "test_failed"
    qa = DocQAItem.objects.select_related("example_execution").get(language=lua)
    assert qa.example_execution.stdout == "3\n" and qa.cited_anchors == ["§3.4.7"]


def test_what_the_language_already_has_is_counted_and_not_stored_again(lua, pack):
    _store(lua, pack, _mixed_report(pack))
    before = (Sample.objects.count(), PreferencePair.objects.count(), DocQAItem.objects.count(),
              Execution.objects.count())
    assert _store(lua, pack, _mixed_report(pack)) == {"stored": 0, "duplicates": 7}
    assert (Sample.objects.count(), PreferencePair.objects.count(), DocQAItem.objects.count(),
            Execution.objects.count()) == before


def test_a_copy_differing_only_in_comments_and_spacing_is_a_duplicate(lua, pack):
    report = validate(pack, [Candidate("syntax", "print(1 + 1)", prompt="Two."),
                             Candidate("syntax", "print(1  +  1) -- two", prompt="Two.")], run_many)
    assert _store(lua, pack, report) == {"stored": 1, "duplicates": 1}


def test_a_chunk_is_written_in_a_few_bulk_queries(lua, pack, django_assert_max_num_queries):
    report = _mixed_report(pack, n=60)
    # tasks, 3 kinds' existing hashes, 2 execution inserts, 3 item inserts: never a row at a time
    with django_assert_max_num_queries(12):
        counts = _store(lua, pack, report)
    assert counts["stored"] == 62
