"""Editing DPO pairs and doc-QA items in place: the edit is re-run in the sandbox, kept as a
revision beside the untouched original, and is what accepting the item accepts."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from curation import review as rv
from curation.actions import (ReviewRefused, do_edit_docqa, do_edit_pair, do_record_review, do_swap_pair,
                              do_undo_review)
from curation.models import DocQAItem, Execution, PreferencePair, Review, ReviewStatus, Task
from sandbox import Result, Verdict

pytestmark = pytest.mark.django_db

ADD = "function add(a, b)\n  return a + b\nend\n"
ADD_WRONG = "function add(a, b)\n  return a - b\nend\n"


@pytest.fixture
def client(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def pair(lua):
    task = Task.objects.create(language=lua, name="add_two", split="train", prompt="Write add(a, b).",
                               entry_point="add",
                               tests=[{"args": [1, 2], "expected": 3}, {"args": [5, 5], "expected": 10}],
                               reference=ADD, wrong=ADD_WRONG, source="edit-test")
    return PreferencePair.objects.create(
        language=lua, prompt=task.prompt, chosen=ADD, rejected=ADD_WRONG, task=task, generator="dpo",
        content_hash="pair-edit", chosen_execution=Execution.objects.create(code_hash="c", verdict="ok"),
        rejected_execution=Execution.objects.create(code_hash="r", verdict="test_failed"))


@pytest.fixture
def docqa(lua):
    section = lua.sections.order_by("order")[2]
    return DocQAItem.objects.create(
        language=lua, question="How long is 'abc'?", answer=f"Use # ({section.anchor}).",
        cited_anchors=[section.anchor],
        example_code="print(#'abc')\n", example_execution=Execution.objects.create(code_hash="e", verdict="ok",
                                                                                 stdout="3\n"),
        generator="docqa", content_hash="qa-edit")


def held(member, lua, kind):
    return rv.next_item_for(member, lua, kind)


def fake_run(*verdicts):
    """A sandbox stand-in answering each program with the next verdict; records the programs."""
    answers = iter(verdicts)

    def run(program):
        run.programs.append(program)
        return Result(verdict=Verdict(next(answers)), exit_code=0, stdout="ran\n")

    run.programs = []
    return run


def no_run(program):
    pytest.fail(f"nothing should have run, but {program.code!r} did")


def edit(client, kind, pk, **data):
    return client.post(reverse("curation-edit-item", args=["lua", kind, pk]), data, HTTP_HX_REQUEST="true")


def decide(client, kind, pk, decision="accept", **data):
    return client.post(reverse("curation-decide-item", args=["lua", kind, pk]), {"decision": decision, **data},
                       HTTP_HX_REQUEST="true")


# ---------------------------------------------------------------- DPO pairs

@pytest.mark.slow
def test_a_pair_edit_reruns_the_chosen_program_with_the_pairs_tests_and_accepting_keeps_it(client, pair):
    client.get(reverse("curation-review-next", args=["lua", "pairs"]))
    better = "function add(a, b)\n  local sum = a + b\n  return sum\nend\n"
    html = edit(client, "pairs", pair.pk, chosen=better, rejected=ADD_WRONG).content.decode()
    assert "Edit ran: chosen Ok, rejected Test Failed." in html, html
    assert "Your chosen" in html and "Accept edit" in html and "local sum = a + b" in html
    decide(client, "pairs", pair.pk)
    accepted = Review.objects.get(pair=pair, decision="accept")
    assert accepted.edited_code == better and accepted.edited_execution.verdict == "ok"
    assert accepted.edited_rejected == ADD_WRONG and accepted.edited_rejected_execution == pair.rejected_execution
    pair.refresh_from_db()
    assert (pair.status, pair.chosen) == (ReviewStatus.ACCEPTED, ADD)  # the original stays as it was


@pytest.mark.slow
def test_a_pair_edit_whose_rejected_program_passes_is_shown_and_cannot_be_accepted(client, pair):
    client.get(reverse("curation-review-next", args=["lua", "pairs"]))
    html = edit(client, "pairs", pair.pk, chosen=ADD, rejected=ADD.replace("a + b", "b + a")).content.decode()
    assert "rejected Ok" in html and "must still fail the pair&#x27;s tests" in html
    html = decide(client, "pairs", pair.pk).content.decode()
    assert "must still fail" in html
    pair.refresh_from_db()
    assert pair.status == ReviewStatus.PENDING


def test_a_pair_edit_whose_chosen_program_fails_cannot_be_accepted(member, lua, pair):
    hold = held(member, lua, "pairs")
    do_edit_pair(hold, chosen=ADD_WRONG.replace("a - b", "a * b"), rejected=ADD_WRONG, by=member,
                 run=fake_run("test_failed"))
    hold.refresh_from_db()
    with pytest.raises(ReviewRefused, match="chosen program must pass"):
        do_record_review(hold, "accept", by=member)
    assert not Review.objects.filter(pair=pair, decision="accept").exists()


def test_a_pair_edit_runs_only_the_side_that_changed(member, lua, pair):
    hold = held(member, lua, "pairs")
    run = fake_run("runtime_error")
    revision = do_edit_pair(hold, chosen=ADD, rejected="function add(a, b) return a .. b end", by=member, run=run)
    assert [p.code for p in run.programs] == ["function add(a, b) return a .. b end"]
    assert run.programs[0].entry_point == "add" and run.programs[0].tests == pair.task.tests
    assert revision.edited_execution == pair.chosen_execution
    assert revision.edited_rejected_execution.verdict == "runtime_error"


def test_a_pair_edit_that_changes_nothing_is_refused(member, lua, pair):
    with pytest.raises(ReviewRefused, match="changes nothing"):
        do_edit_pair(held(member, lua, "pairs"), chosen=ADD, rejected=ADD_WRONG, by=member, run=no_run)
    assert not Review.objects.exists()


def test_a_pair_with_a_pending_edit_cannot_be_swapped(member, lua, pair):
    hold = held(member, lua, "pairs")
    do_edit_pair(hold, chosen=ADD + "\n", rejected=ADD_WRONG, by=member, run=fake_run("ok"))
    with pytest.raises(ReviewRefused, match="Discard your edit before swapping"):
        do_swap_pair(hold, by=member)
    pair.refresh_from_db()
    assert (pair.chosen, pair.rejected) == (ADD, ADD_WRONG)


# ---------------------------------------------------------------- doc-QA items

@pytest.mark.slow
def test_a_docqa_edit_reruns_the_example_and_accepting_keeps_the_new_answer(client, lua, docqa):
    other = lua.sections.order_by("order")[3]
    client.get(reverse("curation-review-next", args=["lua", "qa"]))
    answer = f"The length operator # counts the bytes ({other.anchor})."
    html = edit(client, "qa", docqa.pk, answer=answer, code="print(#'abcd')\n").content.decode()
    assert "the example ran: Ok" in html and "Your answer" in html
    assert f'<a href="#{rv.anchor_id(other.anchor)}">{other.anchor}</a>' in html  # the newly cited section is shown
    assert f'<article id="{rv.anchor_id(other.anchor)}">' in html
    decide(client, "qa", docqa.pk)
    accepted = Review.objects.get(docqa=docqa, decision="accept")
    assert accepted.edited_answer == answer and accepted.edited_code == "print(#'abcd')\n"
    assert accepted.edited_execution.stdout == "4\n"
    docqa.refresh_from_db()
    assert docqa.status == ReviewStatus.ACCEPTED and docqa.answer.startswith("Use #")


def test_a_docqa_edit_of_the_answer_alone_runs_nothing_and_keeps_the_examples_run(member, lua, docqa):
    hold = held(member, lua, "qa")
    anchor = docqa.cited_anchors[0]
    revision = do_edit_docqa(hold, answer=f"# gives the length ({anchor}).", example_code=docqa.example_code,
                             by=member, run=no_run)
    assert revision.edited_execution == docqa.example_execution
    hold.refresh_from_db()
    do_record_review(hold, "accept", by=member)
    assert Review.objects.get(docqa=docqa, decision="accept").edited_answer == f"# gives the length ({anchor})."


@pytest.mark.parametrize("answer,problem", [
    ("See §99.9.", "cites §99.9, which the docs do not have"),
    ("No citation at all.", "must cite a section"),
])
def test_a_docqa_edit_must_cite_sections_the_docs_have_to_be_accepted(member, lua, docqa, answer, problem):
    hold = held(member, lua, "qa")
    do_edit_docqa(hold, answer=answer, example_code=docqa.example_code, by=member, run=no_run)
    hold.refresh_from_db()
    with pytest.raises(ReviewRefused, match=problem):
        do_record_review(hold, "accept", by=member)
    docqa.refresh_from_db()
    assert docqa.status == ReviewStatus.PENDING


def test_a_docqa_edit_whose_example_fails_cannot_be_accepted(member, lua, docqa):
    hold = held(member, lua, "qa")
    do_edit_docqa(hold, answer=docqa.answer, example_code="print(#nil)\n", by=member, run=fake_run("runtime_error"))
    hold.refresh_from_db()
    with pytest.raises(ReviewRefused, match="example must run cleanly"):
        do_record_review(hold, "accept", by=member)


def test_a_docqa_edit_cannot_empty_the_example(member, lua, docqa):
    with pytest.raises(ReviewRefused, match="example program is empty"):
        do_edit_docqa(held(member, lua, "qa"), answer=docqa.answer, example_code="  \n", by=member, run=no_run)


def test_discarding_a_docqa_edit_accepts_the_original(client, member, lua, docqa):
    hold = held(member, lua, "qa")
    do_edit_docqa(hold, answer="Nothing cited.", example_code=docqa.example_code, by=member, run=no_run)
    html = edit(client, "qa", docqa.pk, discard="1").content.decode()
    assert "Edit discarded." in html and "Your answer" not in html
    decide(client, "qa", docqa.pk)
    accepted = Review.objects.get(docqa=docqa, decision="accept")
    assert (accepted.edited_answer, accepted.edited_code) == ("", "")


def test_undoing_an_accepted_edit_keeps_the_edit_on_the_hold(member, lua, docqa):
    hold = held(member, lua, "qa")
    anchor = docqa.cited_anchors[0]
    do_edit_docqa(hold, answer=f"Edited ({anchor}).", example_code=docqa.example_code, by=member, run=no_run)
    hold.refresh_from_db()
    do_record_review(hold, "accept", by=member)
    again = do_undo_review(rv.undo_target(member, lua, "qa"), by=member)
    assert again.edit_id is not None
    do_record_review(again, "accept", by=member)
    accepts = Review.objects.filter(docqa=docqa, decision="accept")
    assert [r.edited_answer for r in accepts] == [f"Edited ({anchor})."] * 2
