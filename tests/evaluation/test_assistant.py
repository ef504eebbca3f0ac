"""The assistant: retrieval, dynamic few-shot, repair rounds fed the real error, the
playground and its API, and the uplift shown on the dashboard."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from curation.packs import read_pack
from evaluation.assistant import Assistant, Shot, failure_text
from evaluation.harness import Attempt, judge
from evaluation.suites import multiple_suite, pack_suite
from tests.conftest import LUA_PACK
from tests.evaluation.conftest import HUMANEVAL_LUA, run_now


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


def test_retrieval_puts_the_relevant_sections_in_the_prompt(content):
    helper = Assistant(content, k_sections=2)
    problem = next(p for p in pack_suite(content) if p.metadata["task"] == "bank_account")
    sections, _ = helper.context(problem.prompt)
    prompt = helper.first_prompt(problem, sections, [])
    assert sections and all(f"{s.anchor} {s.title}" in prompt for s in sections)
    assert any("closure" in s.title.lower() or "function" in s.title.lower() for s in sections)
    assert prompt.rstrip().endswith("cite the sections you used (§…).")


def test_completion_prompts_keep_the_problem_as_the_code_to_continue(content):
    helper = Assistant(content, k_sections=2)
    problem = multiple_suite(HUMANEVAL_LUA)[0]
    prompt = helper.first_prompt(problem, *helper.context(problem.prompt))
    assert prompt.endswith(problem.prompt)
    assert all(line.startswith("--") or not line.strip() for line in prompt[: -len(problem.prompt)].splitlines())


def test_few_shot_picks_the_most_similar_accepted_samples(content):
    shots = [Shot("sample:1", "Reverse the words of a sentence", "return s"),
             Shot("sample:2", "Count inversions in a list of numbers", "return 0"),
             Shot("sample:3", "Parse a date string into its parts", "return {}")]
    helper = Assistant(content, shots=shots, few_shot=1)
    _, chosen = helper.context("Count the inversions of an array: pairs i < j with a[i] > a[j].")
    assert [s.anchor for s in chosen] == ["sample:2"]


def test_repair_prompt_feeds_the_real_error_message(content):
    helper = Assistant(content)
    problem = next(p for p in pack_suite(content) if p.metadata["task"] == "gray_code")
    broken = "local function gray_code(n)\n  return nil + 1\nend\n"
    judgement = judge(content.pack, [Attempt(problem, broken)])[0]
    prompt = helper.repair_prompt(problem, helper.first_prompt(problem, [], []), judgement.completion, judgement)
    assert judgement.verdict == "runtime_error"
    assert failure_text(judgement) in prompt and "attempt to perform arithmetic on a nil value" in prompt
    assert "return nil + 1" in prompt


@pytest.mark.django_db
def test_assistant_run_records_every_repair_round(tiny_checkpoint, pack_suites):
    run = run_now(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=2, mode="assistant",
                  repair_rounds=2, few_shot=0)
    assert run.status == "finished" and run.settings["assistant"]["repair_rounds"] == 2
    for sample in run.samples.all():
        rounds = sample.trace
        assert [r["number"] for r in rounds] == list(range(len(rounds)))
        assert 1 <= len(rounds) <= 3 and rounds[-1]["verdict"] == sample.verdict
        assert rounds[0]["anchors"] and rounds[0]["prompt"].startswith("Reference sections")
        if len(rounds) > 1:
            assert rounds[0]["error_message"] in rounds[1]["prompt"]
        assert sample.tokens == sum(r["tokens"] for r in rounds)


@pytest.mark.django_db
def test_doc_questions_get_retrieved_sections_and_no_repairs(tiny_checkpoint, pack_suites):
    run = run_now(tiny_checkpoint, pack_suites["lua-docqa"], n=1, max_new_tokens=8, limit=2, mode="assistant")
    assert run.status == "finished" and "DocGrounded@1" in run.metrics["metrics"]
    assert all(len(s.trace) == 1 for s in run.samples.all())


@pytest.mark.django_db
def test_uplift_is_stored_and_shown_on_the_dashboard(login, pm, tiny_checkpoint, pack_suites):
    from evaluation.actions import do_start_uplift
    from evaluation.runner import perform_run

    plain, assisted = do_start_uplift(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=2,
                                      repair_rounds=1, few_shot=0, send=False)
    plain, assisted = perform_run(plain.pk), perform_run(assisted.pk)
    assert plain.headline is not None and assisted.headline is not None
    page = login(pm).get(reverse("evaluation-view-dashboard")).content.decode()
    uplift = page.split('id="uplift"')[1].split("</section>")[0]
    expected = f"{(assisted.headline - plain.headline) * 100:+.1f} pts"
    assert expected in uplift and reverse("evaluation-view-run", args=[assisted.pk]) in uplift
    assert "1 repair rounds" in uplift


@pytest.mark.django_db
def test_playground_answers_with_its_trace_and_anchors(login, pm, tiny_checkpoint):
    response = login(pm).post(reverse("evaluation-view-playground"), {
        "checkpoint": tiny_checkpoint.pk, "prompt": "Print the sum of a table of numbers using ipairs.",
        "retrieval": "on", "repair_rounds": 1, "few_shot": 0, "temperature": 0.5, "max_new_tokens": 12},
        HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert "First attempt" in fragment and "Sections used:" in fragment
    assert reverse("curation-view-section", args=["lua", "1"]).rsplit("1/", 1)[0] in fragment


@pytest.mark.django_db
def test_assistant_api_returns_answer_trace_and_anchors(login, pm, tiny_checkpoint):
    response = login(pm).post(reverse("evaluation-api-assistant"), json.dumps({
        "checkpoint": tiny_checkpoint.pk, "prompt": "Write a function that reverses a string with string.sub.",
        "repair_rounds": 1, "few_shot": 0, "max_new_tokens": 12}), content_type="application/json")
    data = response.json()
    assert response.status_code == 200 and data["anchors"]
    assert 1 <= len(data["trace"]) <= 2 and data["verdict"] == data["trace"][-1]["verdict"]
    assert data["passed"] == (data["verdict"] == "ok")
