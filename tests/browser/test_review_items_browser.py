"""The focus view in Chromium beyond a queue of samples: Argilla's Enter / Backspace, skipping,
DPO pairs (diff, both runs, swap, an edit re-run from the keyboard) and doc-QA items (cited
sections, anchor links)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.actions import do_create_user
from curation.models import Assignment, DocQAItem, Execution, PreferencePair, Review, ReviewQueue, Task
from curation.review import anchor_id
from curation.roles import REVIEWER
from tests.browser.test_review_browser import _press_and_wait_for_next, _seed_queue
from tests.conftest import PASSWORD

ADD = "function add(a, b)\n  return a + b\nend\n"
ADD_WRONG = "function add(a, b)\n  return a .. b\nend\n"


@pytest.fixture
def rita(lua):
    return do_create_user("rita", role=REVIEWER, password=PASSWORD, languages=[lua])


@pytest.fixture
def pair(lua):
    task = Task.objects.create(language=lua, name="add_two", split="train", prompt="Write add(a, b).",
                               entry_point="add", tests=[{"args": [1, 2], "expected": 3}], reference=ADD,
                               wrong=ADD_WRONG, source="browser-test")
    return PreferencePair.objects.create(
        language=lua, prompt=task.prompt, chosen=ADD, rejected=ADD_WRONG, task=task, generator="dpo",
        content_hash="browser-pair",
        chosen_execution=Execution.objects.create(code_hash="c", verdict="ok", stdout="chosen ran\n"),
        rejected_execution=Execution.objects.create(code_hash="r", verdict="runtime_error",
                                                    stderr="attempt to concatenate a number value"))


def test_enter_accepts_and_backspace_opens_the_reasons_to_reject(page, log_in, lua, rita):
    first, second, *_ = _seed_queue(lua)
    log_in(page, rita, then="/review/lua/syntax/")
    page.keyboard.press("?")
    expect(page.locator("dialog#help")).to_be_visible()
    help_text = page.inner_text("dialog#help")
    assert "Enter" in help_text and "Backspace" in help_text
    page.keyboard.press("Escape")
    expect(page.locator("dialog#help")).to_be_hidden()
    assert _press_and_wait_for_next(page, "Enter") == second.pk
    page.keyboard.press("Backspace")
    assert page.is_visible("#focus details[data-panel=reject] .panel")
    page.keyboard.press("1")
    _press_and_wait_for_next(page, "Enter")
    decisions = dict(Review.objects.filter(reviewer=rita).values_list("sample_id", "decision"))
    assert decisions == {first.pk: "accept", second.pk: "reject"}
    assert Review.objects.get(sample=second).reason == ReviewQueue(language=lua, kind="syntax").reject_reasons[0]


def test_s_skips_to_the_next_item(page, log_in, lua, rita):
    first, second, *_ = _seed_queue(lua)
    log_in(page, rita, then="/review/lua/syntax/")
    assert _press_and_wait_for_next(page, "s") == second.pk
    assert Assignment.objects.get(sample=first, reviewer=rita).state == Assignment.State.SKIPPED
    assert "Skipped" in page.inner_text("#focus .notice")


def test_a_pair_shows_its_diff_and_both_runs_and_x_swaps(page, log_in, lua, rita, pair):
    log_in(page, rita, then="/review/lua/pairs/")
    page.wait_for_selector(f"#focus[data-item-id='{pair.pk}']")
    assert page.locator("#focus table.diff tr.diff-replace").count() >= 1
    assert "chosen ran" in page.inner_text("#focus section.chosen .execution")
    assert "attempt to concatenate" in page.inner_text("#focus section.rejected .execution")
    page.keyboard.press("x")
    page.wait_for_selector("#focus .notice:has-text('Swapped')")
    assert "attempt to concatenate" in page.inner_text("#focus section.chosen .execution")
    pair.refresh_from_db()
    assert (pair.chosen, pair.rejected) == (ADD_WRONG, ADD)


def test_editing_a_pair_from_the_keyboard_reruns_it(page, log_in, lua, rita, pair):
    log_in(page, rita, then="/review/lua/pairs/")
    page.wait_for_selector(f"#focus[data-item-id='{pair.pk}']")
    page.keyboard.press("e")
    chosen = page.locator("#focus textarea[name=chosen]")
    assert chosen.is_visible()
    chosen.fill("function add(a, b)\n  return b + a\nend\n")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#focus .revision")
    assert "chosen Ok" in page.inner_text("#focus .notice")
    assert "Accept edit" in page.inner_text("#focus .actionbar")
    page.keyboard.press("a")
    page.wait_for_selector("#focus .empty-queue")
    accepted = Review.objects.get(pair=pair, decision="accept")
    assert accepted.edited_code == "function add(a, b)\n  return b + a\nend\n"
    assert accepted.edited_execution.verdict == "ok"


def test_a_docqa_item_shows_its_cited_sections_and_the_anchor_goes_there(page, log_in, live_server, lua, rita):
    section = lua.sections.order_by("order")[3]
    DocQAItem.objects.create(language=lua, question="What does it say?", answer=f"As {section.anchor} explains.",
                             cited_anchors=[section.anchor], generator="docqa", content_hash="browser-qa")
    log_in(page, rita, then="/review/lua/qa/")
    article = page.locator(f"#focus aside.cited article#{anchor_id(section.anchor)}")
    assert section.title in article.inner_text()
    page.click(f"#focus .answer a[href='#{anchor_id(section.anchor)}']")
    assert page.url.endswith(f"#{anchor_id(section.anchor)}")
    expect(article).to_be_in_viewport()
    page.click(f"#focus aside.cited article#{anchor_id(section.anchor)} h3 a")
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/languages/lua/docs/{section.anchor[1:]}/"
    assert section.title in page.inner_text("main")
