"""The review workflow through its pages: queues, the focus view, decisions, undo, edits,
pairs, doc-QA, overlap and adjudication, browse, bulk actions, roles and escaping."""
from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from curation import review as rv
from curation.actions import do_create_user
from curation.models import (Assignment, BulkAction, DocQAItem, Execution, Language, PreferencePair, Review,
                             ReviewQueue, ReviewStatus, Sample)
from curation.roles import REVIEWER
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
_serial = itertools.count()


def make_samples(language, n: int, *, kind: str = "syntax", code: str = "print({i})", **fields) -> list[Sample]:
    """n waiting samples of one kind; `code` and string fields may use {i}."""
    rows = []
    for _ in range(n):
        i = next(_serial)
        values = {"prompt": f"Print the number {i}.", "generator": "grammar-mutate", "verdict": "ok", **fields}
        values = {k: v.format(i=i) if isinstance(v, str) else v for k, v in values.items()}
        rows.append(Sample(language=language, kind=kind, code=code.format(i=i), content_hash=f"test-{i}", **values))
    return Sample.objects.bulk_create(rows)


def make_reviewer(name: str, language):
    return do_create_user(name, role=REVIEWER, password=PASSWORD, languages=[language])


def shown_item(response) -> int | None:
    match = re.search(r'data-item-id="(\d+)"', response.content.decode())
    return int(match.group(1)) if match else None


def decide(client, item_id: int, decision: str, kind: str = "syntax", **data):
    return client.post(reverse("curation-decide-item", args=["lua", kind, item_id]), {"decision": decision, **data},
                       HTTP_HX_REQUEST="true")


def next_url(kind: str = "syntax") -> str:
    return reverse("curation-review-next", args=["lua", kind])


@pytest.fixture
def client_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


# ---------------------------------------------------------------- the focus view

def test_focus_view_shows_code_execution_provenance_and_guidelines(client_for, member, lua):
    sample, = make_samples(lua, 1, code="local x = 1\nprint(x + {i})", generator="grammar-recombine", seed=42,
                           model="tiny-base", triage_reason="near-duplicate of #7", quality=0.73,
                           metadata={"flags": ["long_line"]})
    Execution.objects.create(sample=sample, code_hash="h", verdict="runtime_error", exit_code=1,
                             stderr="lua5.4: prog.lua:2: boom", error_type="index_type", error_line=2)
    html = client_for(member).get(next_url()).content.decode()
    assert f'data-item-id="{sample.pk}"' in html
    assert '<span class="kd">local</span>' in html  # highlighted by Pygments
    assert "Runtime Error" in html and "prog.lua:2: boom" in html and "index_type at line 2" in html
    assert "grammar-recombine" in html and "tiny-base" in html and "42" in html
    assert "near-duplicate of #7" in html and "long_line" in html and "0.730" in html
    assert "Review guidelines for Lua" in html
    assert 'src="/static/js/review.js"' in html


def test_reload_shows_the_item_already_held(client_for, member, lua):
    make_samples(lua, 3)
    client = client_for(member)
    first = shown_item(client.get(next_url()))
    assert shown_item(client.get(next_url())) == first
    assert Assignment.objects.filter(reviewer=member, state="open").count() == 1


def test_accept_records_the_decision_and_the_next_item_arrives_as_a_fragment(client_for, member, lua):
    first, second = make_samples(lua, 2)
    client = client_for(member)
    assert shown_item(client.get(next_url())) == first.pk
    response = decide(client, first.pk, "accept", rating="4")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and html.lstrip().startswith('<section id="focus"')
    assert shown_item(response) == second.pk and f"Accepted #{first.pk}" in html
    first.refresh_from_db()
    assert first.status == ReviewStatus.ACCEPTED
    review = Review.objects.get(sample=first)
    assert (review.decision, review.rating, review.reviewer) == ("accept", 4, member)
    assert review.seconds_spent >= 0
    held = Assignment.objects.get(sample=first)
    assert held.state == "done" and held.decision == "accept" and held.review == review


def test_reject_needs_one_of_the_reasons(client_for, member, lua):
    sample, = make_samples(lua, 1)
    client = client_for(member)
    client.get(next_url())
    response = decide(client, sample.pk, "reject")
    assert "Pick a reason" in response.content.decode() and shown_item(response) == sample.pk
    response = decide(client, sample.pk, "reject", reason="Made up", comment="x")
    assert "Pick a reason" in response.content.decode()
    reason = ReviewQueue(language=lua, kind="syntax").reject_reasons[1]
    decide(client, sample.pk, "reject", reason=reason, comment="prints the wrong thing")
    review = Review.objects.get(sample=sample)
    assert (review.decision, review.reason, review.comment) == ("reject", reason, "prints the wrong thing")
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.REJECTED


def test_plain_form_post_without_htmx_redirects_to_the_queue(client_for, member, lua):
    sample, = make_samples(lua, 1)
    client = client_for(member)
    client.get(next_url())
    response = client.post(reverse("curation-decide-item", args=["lua", "syntax", sample.pk]), {"decision": "accept"})
    assert response.status_code == 302 and response.url == next_url()


def test_skip_hands_the_item_to_a_colleague_and_never_back(client_for, member, lua):
    first, second = make_samples(lua, 2)
    colleague = make_reviewer("colleague", lua)
    mine, theirs = client_for(member), client_for(colleague)
    assert shown_item(mine.get(next_url())) == first.pk
    assert shown_item(theirs.get(next_url())) == second.pk  # the first is held
    response = decide(mine, first.pk, "skip")
    assert shown_item(response) is None  # the second is held by the colleague; the first was skipped
    decide(theirs, second.pk, "accept")
    assert shown_item(theirs.get(next_url())) == first.pk
    first.refresh_from_db()
    assert first.status == ReviewStatus.PENDING


def test_undo_brings_the_last_decision_back(client_for, member, lua):
    first, second = make_samples(lua, 2)
    client = client_for(member)
    client.get(next_url())
    decide(client, first.pk, "accept")
    response = client.post(reverse("curation-undo-review", args=["lua", "syntax"]), HTTP_HX_REQUEST="true")
    assert shown_item(response) == first.pk and "is back" in response.content.decode()
    first.refresh_from_db()
    assert first.status == ReviewStatus.PENDING
    assert list(Review.objects.filter(sample=first).order_by("created_at").values_list("decision", flat=True)) == [
        "accept", "undo"]
    decide(client, first.pk, "reject", reason=ReviewQueue(language=lua, kind="syntax").reject_reasons[0])
    first.refresh_from_db()
    assert first.status == ReviewStatus.REJECTED
    # The second item is still held by the reviewer and comes next.
    assert shown_item(client.get(next_url())) == second.pk


def test_nothing_to_undo_says_so(client_for, member, lua):
    response = client_for(member).post(reverse("curation-undo-review", args=["lua", "syntax"]),
                                       HTTP_HX_REQUEST="true")
    assert "Nothing to undo" in response.content.decode()


def test_empty_queue_says_so(client_for, member, lua):
    html = client_for(member).get(next_url()).content.decode()
    assert "Nothing left in Syntax" in html


def test_an_expired_hold_returns_to_the_pool(client_for, member, lua):
    sample, = make_samples(lua, 1)
    colleague = make_reviewer("colleague", lua)
    client_for(member).get(next_url())
    assert shown_item(client_for(colleague).get(next_url())) is None
    Assignment.objects.filter(reviewer=member).update(assigned_at=timezone.now() - dt.timedelta(hours=2))
    assert shown_item(client_for(colleague).get(next_url())) == sample.pk
    # The first reviewer's late decision is refused rather than counted twice.
    response = decide(client_for(member), sample.pk, "accept")
    assert "handed to a colleague" in response.content.decode()
    assert not Review.objects.filter(sample=sample).exists()


def test_score_order_hands_out_the_most_uncertain_first(client_for, member, lua, admin_user):
    low, high, unscored = make_samples(lua, 3)
    Sample.objects.filter(pk=low.pk).update(quality=0.1)
    Sample.objects.filter(pk=high.pk).update(quality=0.9)
    client = client_for(admin_user)
    client.post(reverse("curation-configure-queue", args=["lua", "syntax"]), {
        "overlap": 1, "order": "score_high", "lease_minutes": 30, "reject_reasons": "Wrong\nOther"})
    reviewer = client_for(member)
    seen = []
    for _ in range(3):
        item = shown_item(reviewer.get(next_url()))
        seen.append(item)
        decide(reviewer, item, "accept")
    assert seen == [high.pk, low.pk, unscored.pk]


@pytest.mark.parametrize("kind", ["pairs", "qa"])
def test_pair_and_docqa_queues_offer_only_oldest_first(client_for, admin_user, lua, kind):
    client = client_for(admin_user)
    url = reverse("curation-configure-queue", args=["lua", kind])
    html = client.get(url).content.decode()
    assert 'value="oldest"' in html and 'value="score_high"' not in html and 'value="score_low"' not in html
    samples_queue = reverse("curation-configure-queue", args=["lua", "syntax"])
    assert 'value="score_high"' in client.get(samples_queue).content.decode()
    response = client.post(url, {"overlap": 1, "order": "score_high", "lease_minutes": 30, "reject_reasons": "Wrong"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ReviewQueue.objects.exists()


def test_configuring_a_score_order_for_pairs_is_refused(admin_user, lua):
    from curation.actions import ReviewRefused, do_configure_queue

    with pytest.raises(ReviewRefused, match="oldest first"):
        do_configure_queue(lua, "pairs", by=admin_user, overlap=1, order="score_low", lease_minutes=30,
                           reject_reasons=["Wrong"])
    assert not ReviewQueue.objects.exists()


# ---------------------------------------------------------------- edits, pairs, doc-QA

@pytest.mark.slow
def test_an_edit_is_rerun_in_the_sandbox_and_accepted_as_a_revision(client_for, member, lua):
    sample, = make_samples(lua, 1, code="print(1 + nil)", verdict="runtime_error")
    client = client_for(member)
    client.get(next_url())
    url = reverse("curation-edit-item", args=["lua", "syntax", sample.pk])
    broken = client.post(url, {"code": "print(1 + {})"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Edit ran: Runtime Error" in broken or "must run cleanly" in broken
    response = client.post(url, {"code": "print(1 + 41)"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    run = Execution.objects.filter(sample=None).order_by("-pk").first()
    assert run.verdict == "ok", (run.verdict, run.error_message, run.stderr)
    assert "Edit ran: Ok" in html and "Accept edit" in html and shown_item(response) == sample.pk
    assert "42" in html  # the edit's stdout
    decide(client, sample.pk, "accept")
    accepted = Review.objects.get(sample=sample, decision="accept")
    assert accepted.edited_code == "print(1 + 41)" and accepted.edited_execution.verdict == "ok"
    assert accepted.edited_execution.stdout == "42\n"
    sample.refresh_from_db()
    assert sample.code == "print(1 + nil)" and sample.status == ReviewStatus.ACCEPTED  # the original is kept
    assert list(Review.objects.filter(sample=sample).order_by("created_at").values_list("decision", flat=True)) == [
        "edit", "edit", "accept"]


def test_an_edit_that_breaks_a_passing_program_cannot_be_accepted(client_for, member, lua):
    from sandbox import Result, Verdict

    from curation.actions import ReviewRefused, do_edit_sample, do_record_review

    sample, = make_samples(lua, 1)
    held = rv.next_item_for(member, lua, "syntax")
    do_edit_sample(held, "print(", by=member, run=lambda program: Result(verdict=Verdict.SYNTAX_ERROR, exit_code=1))
    held.refresh_from_db()
    with pytest.raises(ReviewRefused, match="must run cleanly"):
        do_record_review(held, "accept", by=member)
    html = client_for(member).get(next_url()).content.decode()
    assert "Your edit" in html and "before it can be accepted" in html and "Discard edit" in html
    client_for(member).post(reverse("curation-edit-item", args=["lua", "syntax", sample.pk]), {"discard": "1"},
                            HTTP_HX_REQUEST="true")
    held.refresh_from_db()
    do_record_review(held, "accept", by=member)  # the original, unedited
    assert Review.objects.get(sample=sample, decision="accept").edited_code == ""


def test_dpo_pair_shows_both_sides_with_a_diff_and_swaps(client_for, member, lua):
    chosen_run = Execution.objects.create(code_hash="c", verdict="ok", stdout="3\n")
    rejected_run = Execution.objects.create(code_hash="r", verdict="runtime_error", stderr="attempt to concatenate")
    pair = PreferencePair.objects.create(language=lua, prompt="Add two numbers", chosen="return a + b",
                                         rejected="return a .. b", chosen_execution=chosen_run,
                                         rejected_execution=rejected_run, generator="dpo", content_hash="p1")
    client = client_for(member)
    html = client.get(next_url("pairs")).content.decode()
    assert 'class="diff-replace"' in html and "return a + b" in html and "return a .. b" in html
    assert "attempt to concatenate" in html and "Swap" in html
    response = client.post(reverse("curation-swap-pair", args=["lua", pair.pk]), HTTP_HX_REQUEST="true")
    assert "Swapped" in response.content.decode() and shown_item(response) == pair.pk
    pair.refresh_from_db()
    assert (pair.chosen, pair.rejected) == ("return a .. b", "return a + b")
    assert (pair.chosen_execution, pair.rejected_execution) == (rejected_run, chosen_run)
    decide(client, pair.pk, "accept", kind="pairs")
    pair.refresh_from_db()
    assert pair.status == ReviewStatus.ACCEPTED
    assert list(pair.reviews.order_by("created_at").values_list("decision", flat=True)) == ["swap", "accept"]


def test_doc_qa_item_is_shown_beside_the_sections_it_cites(client_for, member, lua):
    section = lua.sections.order_by("order")[3]
    DocQAItem.objects.create(language=lua, question="What is it?", answer=f"See {section.anchor} and §99.9.",
                             cited_anchors=[section.anchor, "§99.9"], generator="docqa", content_hash="q1")
    html = client_for(member).get(next_url("qa")).content.decode()
    target = rv.anchor_id(section.anchor)
    assert f'<a href="#{target}">{section.anchor}</a>' in html
    assert f'<article id="{target}">' in html and section.title in html
    assert reverse("curation-view-section", args=["lua", section.anchor[1:]]) in html
    assert "§99.9, which the docs do not have" in html


# ---------------------------------------------------------------- overlap, adjudication

def test_with_overlap_two_both_reviewers_decide_and_disagreement_goes_to_adjudication(
        client_for, member, lua, admin_user):
    ReviewQueue.objects.create(language=lua, kind="syntax", overlap=2)
    agreed, disputed = make_samples(lua, 2)
    colleague, third = make_reviewer("colleague", lua), make_reviewer("third", lua)
    a, b, c = client_for(member), client_for(colleague), client_for(third)
    assert shown_item(a.get(next_url())) == agreed.pk
    assert shown_item(b.get(next_url())) == agreed.pk  # the same item: two reviewers per item
    assert shown_item(c.get(next_url())) == disputed.pk
    decide(a, agreed.pk, "accept")
    agreed.refresh_from_db()
    assert agreed.status == ReviewStatus.PENDING  # one decision of two
    decide(b, agreed.pk, "accept")
    agreed.refresh_from_db()
    assert agreed.status == ReviewStatus.ACCEPTED
    assert shown_item(a.get(next_url())) == disputed.pk
    decide(a, disputed.pk, "accept")
    decide(c, disputed.pk, "reject", reason=ReviewQueue.objects.get(kind="syntax").reject_reasons[0])
    disputed.refresh_from_db()
    assert disputed.status == ReviewStatus.DISPUTED
    assert shown_item(b.get(next_url())) is None  # two decisions made; nobody else gets it

    page = client_for(admin_user).get(reverse("curation-list-disputes", args=["lua"])).content.decode()
    assert f"Syntax #{disputed.pk}" in page and "third: reject" in page
    response = client_for(admin_user).post(reverse("curation-adjudicate-item", args=["lua", "syntax", disputed.pk]),
                                           {"decision": "accept"})
    assert response.status_code == 302
    disputed.refresh_from_db()
    assert disputed.status == ReviewStatus.ACCEPTED
    assert Review.objects.get(sample=disputed, adjudication=True).reviewer == admin_user


def test_a_disputed_pair_is_adjudicated_with_both_programs_their_runs_and_the_pair_queues_reasons(
        client_for, lua, admin_user):
    ReviewQueue.objects.create(language=lua, kind="pairs", reject_reasons=["both wrong", "tests too weak"])
    chosen_run = Execution.objects.create(code_hash="c", verdict="ok", stdout="3\n")
    rejected_run = Execution.objects.create(code_hash="r", verdict="runtime_error", stderr="attempt to <b>concatenate")
    PreferencePair.objects.create(language=lua, prompt="Add two numbers", chosen="return a + b", rejected="return a .. b",
                                  chosen_execution=chosen_run, rejected_execution=rejected_run, generator="dpo",
                                  content_hash="pd1", status=ReviewStatus.DISPUTED)
    page = client_for(admin_user).get(reverse("curation-list-disputes", args=["lua"])).content.decode()
    assert "return a + b" in page and "return a .. b" in page and 'class="diff-replace"' in page
    assert "attempt to &lt;b&gt;concatenate" in page and "<b>concatenate" not in page
    assert '<option value="tests too weak">' in page


def test_a_disputed_docqa_item_is_adjudicated_with_its_answer_and_example(client_for, lua, admin_user):
    run = Execution.objects.create(code_hash="e", verdict="ok", stdout="2\n")
    DocQAItem.objects.create(language=lua, question="What does # do?", answer="It counts <script>x</script> (§3.1).",
                             cited_anchors=["§3.1"], example_code="print(#'ab')", example_execution=run,
                             generator="docqa", content_hash="qd1", status=ReviewStatus.DISPUTED)
    page = client_for(admin_user).get(reverse("curation-list-disputes", args=["lua"])).content.decode()
    assert "What does # do?" in page and "It counts &lt;script&gt;" in page and "<script>x" not in page
    example = page[page.index("<h3>Example</h3>"):]
    assert "print" in example and "verdict-ok" in example


def test_reviewers_and_pms_cannot_adjudicate(client_for, member, pm, lua):
    sample, = make_samples(lua, 1, status=ReviewStatus.DISPUTED)
    url = reverse("curation-adjudicate-item", args=["lua", "syntax", sample.pk])
    assert client_for(member).post(url, {"decision": "accept"}).status_code == 403
    assert client_for(pm).post(url, {"decision": "accept"}).status_code == 403
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.DISPUTED


def test_lowering_the_overlap_settles_items_that_have_enough_decisions(client_for, member, lua, admin_user):
    ReviewQueue.objects.create(language=lua, kind="syntax", overlap=2)
    sample, = make_samples(lua, 1)
    client = client_for(member)
    client.get(next_url())
    decide(client, sample.pk, "accept")
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.PENDING
    client_for(admin_user).post(reverse("curation-configure-queue", args=["lua", "syntax"]), {
        "overlap": 1, "order": "oldest", "lease_minutes": 30, "reject_reasons": "Wrong"})
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.ACCEPTED


def test_agreement_page_shows_kappa_per_queue_and_per_reviewer(client_for, member, lua, pm):
    ReviewQueue.objects.create(language=lua, kind="syntax", overlap=2)
    samples = make_samples(lua, 4)
    colleague = make_reviewer("colleague", lua)
    reason = ReviewQueue.objects.get(kind="syntax").reject_reasons[0]
    votes = [("accept", "accept"), ("reject", "reject"), ("accept", "reject"), ("accept", "accept")]
    for sample, (mine, theirs) in zip(samples, votes):
        for user, vote in ((member, mine), (colleague, theirs)):
            held = rv.next_item_for(user, lua, "syntax")
            assert held.sample == sample
            from curation.actions import do_record_review
            do_record_review(held, vote, by=user, reason=reason if vote == "reject" else "")
    html = client_for(pm).get(reverse("curation-view-agreement", args=["lua"])).content.decode()
    # Pooled labels 5 accept / 3 reject, 3 of 4 items agree: Fleiss' kappa 0.467.
    assert "0.467" in html and "moderate" in html
    assert "colleague" in html and "reviewer" in html
    assert client_for(member).get(reverse("curation-view-agreement", args=["lua"])).status_code == 403


def test_agreement_page_shows_each_reviewers_kappa_per_queue_beside_the_pooled_one(client_for, member, lua, pm):
    from curation.actions import do_record_review

    colleague = make_reviewer("colleague", lua)
    reason = ReviewQueue(language=lua, kind="syntax").reject_reasons[0]
    votes = {"syntax": [("accept", "accept"), ("reject", "reject"), ("accept", "accept"), ("reject", "reject")],
             "negative": [("accept", "reject"), ("reject", "accept"), ("accept", "accept"), ("reject", "reject")]}
    for kind, pairs in votes.items():
        ReviewQueue.objects.create(language=lua, kind=kind, overlap=2)
        for sample, (mine, theirs) in zip(make_samples(lua, 4, kind=kind), pairs):
            for user, vote in ((member, mine), (colleague, theirs)):
                held = rv.next_item_for(user, lua, kind)
                assert held.sample == sample
                do_record_review(held, vote, by=user, reason=reason if vote == "reject" else "")
    html = client_for(pm).get(reverse("curation-view-agreement", args=["lua"])).content.decode()
    per_queue, pooled = html.split("Per reviewer, all queues pooled")
    per_queue = per_queue.split("Per reviewer, per queue")[1]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\w+)</td>.*?<td class=\"num\">([-\d.—]+)</td><td>", per_queue, re.S)
    assert [(queue, who, kappa) for queue, who, kappa in rows] == [
        ("Negative", "colleague", "0.000"), ("", "reviewer", "0.000"),
        ("Syntax", "colleague", "1.000"), ("", "reviewer", "1.000")]
    assert pooled.count("0.500") == 2  # both reviewers, all eight items together


# ---------------------------------------------------------------- roles and safety

def test_pm_sees_queues_with_counts_but_cannot_review(client_for, pm, lua):
    sample, = make_samples(lua, 1)
    client = client_for(pm)
    html = client.get(reverse("curation-list-queues")).content.decode()
    assert "Lua" in html and "Review queues" in html
    assert reverse("curation-review-next", args=["lua", "syntax"]) not in html
    assert client.get(next_url()).status_code == 403
    assert decide(client, sample.pk, "accept").status_code == 403
    assert client.get(reverse("curation-configure-queue", args=["lua", "syntax"])).status_code == 403
    assert client.get(reverse("curation-bulk-review", args=["lua"])).status_code == 403
    assert not Review.objects.exists()


def test_reviewer_outside_the_language_gets_404(client_for, reviewer, lua):
    sample, = make_samples(lua, 1)
    client = client_for(reviewer)  # not a member of Lua
    assert client.get(next_url()).status_code == 404
    assert decide(client, sample.pk, "accept").status_code == 404
    assert client.get(reverse("curation-browse-samples", args=["lua"])).status_code == 404
    assert client.get(reverse("curation-view-sample", args=["lua", sample.pk])).status_code == 404
    assert "Lua" not in client.get(reverse("curation-list-queues")).content.decode()


def test_an_item_of_another_language_is_404(client_for, member, lua):
    other = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path="/nowhere")
    foreign, = make_samples(other, 1)
    make_samples(lua, 1)
    client = client_for(member)
    client.get(next_url())
    assert decide(client, foreign.pk, "accept").status_code == 404
    assert client.get(reverse("curation-view-sample", args=["lua", foreign.pk])).status_code == 404
    assert client.get(reverse("curation-review-next", args=["tcl", "syntax"])).status_code == 404
    assert client.get(reverse("curation-review-next", args=["lua", "no-such-queue"])).status_code == 404


def test_decisions_need_the_csrf_token(member, lua):
    sample, = make_samples(lua, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    html = client.get(next_url()).content.decode()
    assert html.count("csrfmiddlewaretoken") >= 4  # decide, reject, edit, undo
    assert decide(client, sample.pk, "accept").status_code == 403
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.PENDING


def test_code_output_and_prompt_render_as_text_under_the_csp(client_for, member, lua):
    sample, = make_samples(lua, 1, code='print("<script>alert(1)</script>")',
                           prompt='<img src=x onerror="alert(2)"> please')
    Execution.objects.create(sample=sample, code_hash="x", verdict="ok",
                             stdout="<script>alert(3)</script>\x1b[31mred\x1b[0m \ufffd\x07",
                             stderr="</pre><b>bold</b>")
    response = client_for(member).get(next_url())
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert "\u241b[31mred\u241b[0m" in html and "\u2407" in html and "\x1b" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert " on" + "click=" not in html and "hx-on" not in html and "style=" not in html
    detail = client_for(member).get(reverse("curation-view-sample", args=["lua", sample.pk])).content.decode()
    assert "<script>alert" not in detail and "&lt;script&gt;" in detail


# ---------------------------------------------------------------- browse, search, bulk

def browse(client, **params):
    return client.get(reverse("curation-browse-samples", args=["lua"]), params)


def listed(response) -> set[int]:
    return {int(m) for m in re.findall(r'/review/lua/samples/(\d+)/', response.content.decode())}


def test_browse_filters_by_each_field(client_for, member, lua):
    old = make_samples(lua, 1, generator="old-gen", verdict="syntax_error")[0]
    Sample.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    negative, = make_samples(lua, 1, kind="negative", verdict="runtime_error")
    Execution.objects.create(sample=negative, code_hash="n", verdict="runtime_error", error_type="index_type")
    decided, = make_samples(lua, 1, status=ReviewStatus.ACCEPTED)
    Review.objects.create(sample=decided, reviewer=member, decision="accept")
    plain, = make_samples(lua, 1)
    client = client_for(member)
    assert listed(browse(client)) == {old.pk, negative.pk, decided.pk, plain.pk}
    assert listed(browse(client, kind="negative")) == {negative.pk}
    assert listed(browse(client, verdict="syntax_error")) == {old.pk}
    assert listed(browse(client, generator="old-gen")) == {old.pk}
    assert listed(browse(client, status="accepted")) == {decided.pk}
    assert listed(browse(client, reviewer=member.pk)) == {decided.pk}
    assert listed(browse(client, error_type="index_type")) == {negative.pk}
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert old.pk not in listed(browse(client, date_from=since))
    assert listed(browse(client, date_to=(timezone.now() - dt.timedelta(days=20)).date().isoformat())) == {old.pk}
    # htmx asks for the results only (the filter form stays as the user left it).
    response = client.get(reverse("curation-browse-samples", args=["lua"]), {"kind": "negative"}, HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode() and listed(response) == {negative.pk}


def test_search_matches_prompt_and_code_through_the_gin_index(client_for, member, lua):
    in_prompt, = make_samples(lua, 1, prompt="Compute a fibonacci sequence")
    in_code, = make_samples(lua, 1, code="local function fibonacci(n) return n end")
    make_samples(lua, 3)
    client = client_for(member)
    assert listed(browse(client, q="fibonacci")) == {in_prompt.pk, in_code.pk}
    assert listed(browse(client, q="fibonacci -sequence")) == {in_code.pk}
    # The search condition alone, with table scans off: only an index on the very same
    # expression can answer it.
    qs = Sample.objects.extra(where=[rv.FTS_MATCH], params=["fibonacci"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "samplesearch_fts" in plan


def test_search_follows_a_changed_program_but_a_decision_leaves_its_words_alone(client_for, member, lua):
    sample, = make_samples(lua, 1, code="local function fibonacci(n) return n end")
    client = client_for(member)

    def words_version():
        with connection.cursor() as cursor:
            cursor.execute("SELECT xmin::text FROM curation_samplesearch WHERE sample_id = %s", [sample.pk])
            return cursor.fetchone()[0]

    before = words_version()
    Sample.objects.filter(pk=sample.pk).update(status="accepted")
    assert words_version() == before  # the trigger left the side table alone
    sample.code = "local function lucas(n) return n end"
    sample.save(update_fields=["code"])
    assert listed(browse(client, q="lucas")) == {sample.pk}
    assert listed(browse(client, q="fibonacci")) == set()


def test_browse_count_is_capped_and_pages_go_by_id(client_for, member, lua, monkeypatch):
    samples = make_samples(lua, 60)
    monkeypatch.setattr(rv, "BROWSE_COUNT_CAP", 55)
    client = client_for(member)
    first = browse(client)
    html = first.content.decode()
    assert "55+ samples match" in html
    assert listed(first) == {s.pk for s in samples[10:]}
    older = browse(client, before=samples[10].pk)
    assert listed(older) == {s.pk for s in samples[:10]}
    newer = browse(client, after=samples[9].pk)
    assert listed(newer) == {s.pk for s in samples[10:]}


def test_bulk_accept_applies_to_the_whole_filtered_set_and_is_audited(client_for, admin_user, lua):
    wanted = make_samples(lua, 70, generator="grammar-generate")  # more than a page of 50
    already = make_samples(lua, 1, generator="grammar-generate", status=ReviewStatus.REJECTED)[0]
    other = make_samples(lua, 5, generator="self-instruct")
    client = client_for(admin_user)
    url = reverse("curation-bulk-review", args=["lua"])
    confirm = client.get(url, {"generator": "grammar-generate", "decision": "accept"}).content.decode()
    assert "<strong>70</strong> matching samples await review" in confirm
    response = client.post(url, {"generator": "grammar-generate", "decision": "accept", "matched": 70,
                                 "confirm": "on"})
    assert response.status_code == 200 and "<strong>70</strong> samples accepted" in response.content.decode()
    assert Sample.objects.filter(pk__in=[s.pk for s in wanted], status=ReviewStatus.ACCEPTED).count() == 70
    already.refresh_from_db()
    assert already.status == ReviewStatus.REJECTED  # decided items keep their decision
    assert not Sample.objects.filter(pk__in=[s.pk for s in other]).exclude(status=ReviewStatus.PENDING).exists()
    bulk = BulkAction.objects.get()
    assert (bulk.decided_by, bulk.decision, bulk.changed, bulk.filters) == (
        admin_user, "accept", 70, {"generator": "grammar-generate"})
    assert Review.objects.filter(bulk=True, bulk_action=bulk, reviewer=admin_user, decision="accept").count() == 70


def test_bulk_changes_nothing_when_the_set_changed_since_the_confirmation(client_for, admin_user, lua):
    make_samples(lua, 3, generator="grammar-generate")
    client = client_for(admin_user)
    url = reverse("curation-bulk-review", args=["lua"])
    assert "<strong>3</strong> matching samples" in client.get(url, {"generator": "grammar-generate"}).content.decode()
    make_samples(lua, 2, generator="grammar-generate")  # arrived while the admin read the page
    response = client.post(url, {"generator": "grammar-generate", "decision": "accept", "matched": 3, "confirm": "on"})
    html = response.content.decode()
    assert response.status_code == 200 and "now matches 5 samples awaiting review, not the 3" in html
    assert "<strong>5</strong> matching samples" in html and 'name="matched" value="5"' in html
    assert not BulkAction.objects.exists() and not Sample.objects.exclude(status=ReviewStatus.PENDING).exists()
    client.post(url, {"generator": "grammar-generate", "decision": "accept", "matched": 5, "confirm": "on"})
    assert BulkAction.objects.get().changed == 5


def test_a_confirmed_bulk_action_that_would_change_more_than_it_showed_writes_nothing(admin_user, lua):
    # The count is checked by the UPDATE itself, in its transaction: samples stored between
    # any earlier count and the write are never decided unseen.
    from curation.actions import BulkSetChanged, do_bulk_review

    make_samples(lua, 4, generator="grammar-generate")
    with pytest.raises(BulkSetChanged) as refused:
        do_bulk_review(lua, Sample.objects.filter(generator="grammar-generate"), "accept", by=admin_user, matched=3,
                       confirmed=True)
    assert refused.value.found == 4
    assert not BulkAction.objects.exists() and not Review.objects.exists()
    assert not Sample.objects.exclude(status=ReviewStatus.PENDING).exists()


def test_a_user_with_decisions_cannot_be_deleted_and_their_bulk_actions_stay_audited(client_for, admin_user, lua):
    # Review.reviewer and Review.bulk_action have no database constraint (bulk speed): the
    # ORM's on_delete must still keep the audit trail whole.
    from django.db.models import ProtectedError

    make_samples(lua, 3, generator="grammar-generate")
    client_for(admin_user).post(reverse("curation-bulk-review", args=["lua"]),
                                {"generator": "grammar-generate", "decision": "accept", "matched": 3, "confirm": "on"})
    with pytest.raises(ProtectedError):
        admin_user.delete()
    BulkAction.objects.get().delete()
    assert Review.objects.filter(bulk=True, bulk_action=None, reviewer=admin_user).count() == 3


def test_bulk_reject_needs_confirmation_and_a_reason(client_for, admin_user, lua):
    samples = make_samples(lua, 3)
    client = client_for(admin_user)
    url = reverse("curation-bulk-review", args=["lua"])
    client.post(url, {"decision": "reject", "matched": 3, "reason": "Does not run"})  # no confirmation
    client.post(url, {"decision": "reject", "matched": 3, "confirm": "on"})  # no reason
    assert not Sample.objects.exclude(status=ReviewStatus.PENDING).exists() and not BulkAction.objects.exists()
    client.post(url, {"decision": "reject", "matched": 3, "confirm": "on", "reason": "Does not run", "q": "number"})
    assert Sample.objects.filter(pk__in=[s.pk for s in samples], status=ReviewStatus.REJECTED).count() == 3
    assert set(Review.objects.values_list("reason", flat=True)) == {"Does not run"}


@pytest.mark.parametrize("role", ["pm", "reviewer"])
def test_only_admins_bulk(client_for, member, pm, lua, role):
    make_samples(lua, 2)
    client = client_for(pm if role == "pm" else member)
    url = reverse("curation-bulk-review", args=["lua"])
    assert client.get(url, {"decision": "accept"}).status_code == 403
    assert client.post(url, {"decision": "accept", "matched": 2, "confirm": "on"}).status_code == 403
    assert not Sample.objects.exclude(status=ReviewStatus.PENDING).exists()


def test_browse_shows_bulk_controls_to_admins_only(client_for, member, pm, admin_user, lua):
    make_samples(lua, 2)
    bulk_url = reverse("curation-bulk-review", args=["lua"])
    for user, shown in ((member, False), (pm, False), (admin_user, True)):
        assert (bulk_url in browse(client_for(user)).content.decode()) is shown, user.username


# ---------------------------------------------------------------- queues, audit

def test_queue_list_counts_waiting_and_disputed_items_per_queue(client_for, member, lua, monkeypatch):
    make_samples(lua, 7)
    make_samples(lua, 2, kind="negative")
    make_samples(lua, 1, kind="negative", status=ReviewStatus.DISPUTED)
    monkeypatch.setattr(rv.pending_counts, "__defaults__", (5,))
    rows = {key: (n, more) for (lang, key), (n, more) in rv.pending_counts([lua.pk]).items()}
    assert rows["syntax"] == (5, True) and rows["negative"] == (2, False) and rows["pairs"] == (0, False)
    assert rv.status_counts([lua.pk], ReviewStatus.DISPUTED)[(lua.pk, "negative")] == 1
    html = client_for(member).get(reverse("curation-list-queues")).content.decode()
    assert "5+" in html and reverse("curation-review-next", args=["lua", "negative"]) in html


def test_audit_trail_lists_who_did_what_when_and_for_how_long(client_for, member, lua, pm):
    sample, = make_samples(lua, 1)
    client = client_for(member)
    client.get(next_url())
    Assignment.objects.filter(reviewer=member).update(assigned_at=timezone.now() - dt.timedelta(seconds=12))
    decide(client, sample.pk, "accept", rating="5")
    review = Review.objects.get(sample=sample)
    assert review.seconds_spent == pytest.approx(12, abs=2)
    html = client_for(pm).get(reverse("curation-list-reviews", args=["lua"])).content.decode()
    assert f"sample #{sample.pk}" in html and "reviewer" in html and "accept" in html
    assert client_for(member).get(reverse("curation-list-reviews", args=["lua"])).status_code == 403


def test_portable_claim_respects_overlap_and_never_repeats_a_reviewer(member, lua):
    """The compare-and-swap path SQLite uses, exercised here on Postgres."""
    first, second = make_samples(lua, 2)
    colleague = make_reviewer("colleague", lua)
    qk = rv.queue_kind("syntax")
    got = [rv._claim_compare_and_swap(user, lua, qk, 1, "oldest", None) for user in (member, colleague, member)]
    items = [Assignment.objects.get(pk=c[0]).sample_id if c else None for c in got]
    assert items == [first.pk, second.pk, None]


def test_seed_samples_copies_samples_and_their_executions(lua):
    from django.core.management import call_command

    from curation.execution import program_digest, program_for

    call_command("seed_samples", "--count", "3000", "--seed", "7", "--batch", "1200", stdout=open("/dev/null", "w"))
    assert Sample.objects.filter(language=lua).count() == 3000
    assert Execution.objects.filter(sample__language=lua).count() == 3000
    # Generators come in job-sized runs of 2,000: the first run is grammar-recombine.
    assert Sample.objects.filter(generator="grammar-recombine", status="pending").count() == 2000
    sample = Sample.objects.filter(language=lua).order_by("?").first()
    # A seeded sample's execution is keyed like a real one, so re-running it adds nothing.
    assert sample.executions.get().code_hash == program_digest(program_for(sample))
    assert PreferencePair.objects.count() == 3 and DocQAItem.objects.count() == 3  # one per thousand
    call_command("seed_samples", "--count", "500", "--seed", "8", "--pairs", "3", "--docqa", "3",
                 stdout=open("/dev/null", "w"))
    assert Sample.objects.count() == 3500 and PreferencePair.objects.count() == 6 and DocQAItem.objects.count() == 6


@pytest.mark.parametrize("typed,tsquery", [
    ("fibonacci", "'fibonacci'"),
    ("coroutine_range gamma", "('coroutine' & 'range') & 'gamma'"),
    ('"reverse words" -alpha', "'reverse' & 'words' & !('alpha')"),
    ("luna OR sol -beta", "('luna' | 'sol') & !('beta')"),
    ("-only_exclusions", None), ("", None), ("!!! ???", None),
])
def test_the_search_box_becomes_a_tsquery_without_phrases(typed, tsquery):
    assert rv.search_tsquery(typed) == tsquery


def test_search_excludes_and_alternates(client_for, member, lua):
    luna, = make_samples(lua, 1, prompt="luna only")
    sol, = make_samples(lua, 1, prompt="sol only")
    both, = make_samples(lua, 1, prompt="luna and sol")
    client = client_for(member)
    assert listed(browse(client, q="luna -sol")) == {luna.pk}
    assert listed(browse(client, q="luna or sol")) == {luna.pk, sol.pk, both.pk}
    assert listed(browse(client, q='"sol luna"')) == {both.pk}


def test_control_characters_in_output_are_shown_not_obeyed():
    from curation.templatetags.review_display import visible

    assert visible("ok\x00\x1b[31mred\x1b[0m\x07\ttab\nline\x7f\x9b") == "ok\u2400\u241b[31mred\u241b[0m\u2407\ttab\nline\u2421\\x9b"
    assert visible(None) == ""


# ---------------------------------------------------------------- at scale: plans and write paths

def test_hand_out_reads_the_waiting_items_index_whatever_the_queue(member, lua):
    """The kind is written as a range so that only the partial index of waiting items can
    give the order: never a walk of the primary key filtering for the kind."""
    make_samples(lua, 3, kind="backtranslate")
    for order in ("oldest", "score_high", "score_low"):
        sql = rv.claim_candidate_sql(rv.queue_kind("backtranslate"), order)
        params = {"language": lua.pk, "kind": "backtranslate", "pending": ReviewStatus.PENDING, "overlap": 1,
                  "reviewer": member.pk, "item": None}
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        index = "sample_queue_pending" if order == "oldest" else "sample_queue_score"
        assert index in plan and "Sort" not in plan and "curation_sample_pkey" not in plan, plan


def test_a_decision_on_an_item_settled_meanwhile_is_refused_and_writes_nothing(client_for, member, lua, admin_user):
    sample, = make_samples(lua, 1)
    client = client_for(member)
    assert shown_item(client.get(next_url())) == sample.pk
    from curation.actions import ReviewRefused, do_bulk_review, do_record_review

    do_bulk_review(lua, Sample.objects.filter(pk=sample.pk), "reject", by=admin_user, reason="Does not run")
    held = Assignment.objects.get(sample=sample, reviewer=member)
    with pytest.raises(ReviewRefused, match="decided by someone else"):
        do_record_review(held, "accept", by=member, overlap=1)
    assert not Review.objects.filter(sample=sample, reviewer=member).exists()
    sample.refresh_from_db()
    assert sample.status == ReviewStatus.REJECTED
    held.refresh_from_db()
    assert held.state == "open" and held.review is None


def test_a_decision_on_a_colleagues_hold_is_refused(member, lua):
    sample, = make_samples(lua, 1)
    colleague = make_reviewer("colleague", lua)
    held = rv.next_item_for(member, lua, "syntax")
    from curation.actions import ReviewRefused, do_record_review

    with pytest.raises(ReviewRefused, match="held by another reviewer"):
        do_record_review(held, "accept", by=colleague, overlap=1)
    do_record_review(held, "accept", by=member, overlap=1)
    with pytest.raises(ReviewRefused, match="already decided"):
        do_record_review(held, "reject", by=member, reason="Other", overlap=1)
    assert list(Review.objects.filter(sample=sample).values_list("decision", flat=True)) == ["accept"]


def test_search_follows_an_edited_program_and_rows_written_without_the_orm(client_for, member, lua):
    """The searched text is a generated column: Postgres fills it on any insert (COPY,
    raw SQL) and renews it when prompt or code change, and only then."""
    edited, = make_samples(lua, 1, code="print('lantern')")
    Sample.objects.filter(pk=edited.pk).update(code="print('beacon')")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO curation_sample (language_id, kind, prompt, code, metadata, generator, model, "
                       "licence, content_hash, verdict, status, triage_reason, claims, created_at) VALUES "
                       "(%s, 'syntax', 'raw beacon row', 'print(1)', '{}', 'raw', '', '', 'raw-1', 'ok', 'pending', "
                       "'', 0, now()) RETURNING id", [lua.pk])
        raw = cursor.fetchone()[0]
    client = client_for(member)
    assert listed(browse(client, q="beacon")) == {edited.pk, raw}
    assert listed(browse(client, q="lantern")) == set()
    Sample.objects.filter(pk=edited.pk).update(status=ReviewStatus.ACCEPTED)  # leaves the vector as it was
    assert listed(browse(client, q="beacon", status="accepted")) == {edited.pk}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_migrating_fills_the_search_column_for_rows_already_there():
    from django.core.management import call_command

    language = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path="/nowhere")
    call_command("migrate", "curation", "0006", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO curation_sample (language_id, kind, prompt, code, metadata, generator, model, "
                           "licence, content_hash, verdict, status, triage_reason, claims, created_at) VALUES "
                           "(%s, 'syntax', 'an older lighthouse', 'print(2)', '{}', 'raw', '', '', 'old-1', 'ok', "
                           "'pending', '', 0, now()) RETURNING id", [language.pk])
            old = cursor.fetchone()[0]
    finally:
        call_command("migrate", "curation", verbosity=0)
    found = Sample.objects.extra(where=[rv.FTS_MATCH], params=["lighthouse"]).values_list("pk", flat=True)
    assert list(found) == [old]


def test_a_decision_and_the_next_item_cost_a_fixed_handful_of_queries(client_for, member, lua):
    """The hottest request of the app: the session, the user, one read of the language,
    role, queue settings and hold, the decision, the hand-out (with the item's latest run)
    and the progress line — however many items, executions and reviews there are."""
    from django.test.utils import CaptureQueriesContext

    samples = make_samples(lua, 4)
    for sample in samples:
        Execution.objects.create(sample=sample, code_hash=f"h{sample.pk}", verdict="ok", stdout=f"out {sample.pk}")
    client = client_for(member)
    first = shown_item(client.get(next_url()))
    with CaptureQueriesContext(connection) as decision:
        response = decide(client, first, "accept", rating="3")
    second = shown_item(response)
    assert second not in (None, first) and f"out {second}" in response.content.decode()
    with CaptureQueriesContext(connection) as reload:
        response = client.get(next_url(), HTTP_HX_REQUEST="true")
    assert shown_item(response) == second and f"out {second}" in response.content.decode()
    # Savepoints are how the test's transaction wraps the hand-out; they are not round trips
    # a server makes outside a test.
    statements = [q["sql"] for q in decision.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 6, "\n".join(statements)
    statements = [q["sql"] for q in reload.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 6, "\n".join(statements)


def test_citations_are_read_as_docgrounded_reads_them():
    # One rule for review, synthesis and DocGrounded@1: "§ 3.1" is §3.1, a sentence's dot is not part of it.
    assert rv.split_citations("See § 3.1. and §10.12") == [("See ", None), ("§ 3.1", "§3.1"), (". and ", None),
                                                           ("§10.12", "§10.12")]
    assert rv.cited_anchors("See § 3.1. and §10.12, again §3.1") == ["§3.1", "§10.12"]
