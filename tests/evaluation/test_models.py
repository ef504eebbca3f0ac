"""Stored suites and runs: problems round-trip exactly, runs say what they measured."""
from __future__ import annotations

import pytest

from curation.packs import read_pack
from evaluation.problems import problem_from_dict, problem_to_dict, problems_digest
from evaluation.suites import docqa_suite, multiple_suite, pack_suite
from tests.conftest import LUA_PACK
from tests.evaluation.conftest import HUMANEVAL_LUA


def test_problems_round_trip_through_json():
    content = read_pack(LUA_PACK)
    problems = (pack_suite(content)[:3] + pack_suite(content, variant="completion")[:2]
                + multiple_suite(HUMANEVAL_LUA)[:2] + docqa_suite(content)[:2])
    for problem in problems:
        back = problem_from_dict(problem_to_dict(problem))
        assert back == problem
        assert back.stop_tokens == problem.stop_tokens and back.tests == problem.tests
        assert back.solution("x") == problem.solution("x")


def test_suite_digest_changes_when_a_problem_does():
    problems = multiple_suite(HUMANEVAL_LUA)[:3]
    assert problems_digest(problems) == problems_digest(list(problems))
    assert problems_digest(problems) != problems_digest(problems[:2])


@pytest.mark.django_db
def test_each_suite_names_its_headline_metric(pack_suites):
    assert pack_suites["lua-test"].headline == "Pass@1"
    assert pack_suites["lua-errfix"].headline == "FixRate@1"
    assert pack_suites["lua-docqa"].headline == "DocGrounded@1"


@pytest.mark.django_db
def test_a_queued_run_has_no_validity_yet(tiny_checkpoint, pack_suites):
    from evaluation.actions import do_start_run

    run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, send=False)
    assert run.status == "queued" and run.valid is None and not run.is_finished
