"""A reviewer works a queue from the keyboard in Chromium; a PM cannot reach an admin's
actions; generated code that carries <script> shows as text."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.actions import do_create_user
from curation.models import Execution, Review, ReviewQueue, ReviewStatus, Sample
from curation.roles import ADMIN, PM, REVIEWER
from tests.conftest import PASSWORD

PROGRAMS = [
    ("Sum the numbers 1 to 10.", "local total = 0\nfor i = 1, 10 do\n  total = total + i\nend\nprint(total)\n", "55\n"),
    ("Greet the reader.", 'local name = "reviewer"\nprint("hello, " .. name)\n', "hello, reviewer\n"),
    ("Reverse a list.", "local t = {1, 2, 3}\nfor i = #t, 1, -1 do\n  io.write(t[i], \" \")\nend\nprint()\n",
     "3 2 1 \n"),
    ("Add one to 41.", "print(1 + nil)\n", ""),
    ("Return a table's length.", "local t = {1, 2}\nprint(#t)\n", "2\n"),
]


def _seed_queue(lua):
    samples = []
    for i, (prompt, code, stdout) in enumerate(PROGRAMS):
        failing = not stdout
        sample = Sample.objects.create(
            language=lua, kind="syntax", prompt=prompt, code=code, generator="grammar-recombine", seed=i,
            model="tiny-base", content_hash=f"browser-{i}", verdict="runtime_error" if failing else "ok",
            quality=0.5 + i / 10, triage_reason="" if i else "passes its tests")
        Execution.objects.create(
            sample=sample, code_hash=f"h{i}", verdict=sample.verdict, exit_code=1 if failing else 0, stdout=stdout,
            stderr="lua5.4: prog.lua:1: attempt to perform arithmetic on a nil value" if failing else "",
            error_type="arithmetic_type" if failing else "", error_line=1 if failing else None, duration=0.004)
        samples.append(sample)
    return samples


def _shown(page) -> int:
    return int(page.get_attribute("#focus", "data-item-id"))


def _press_and_wait_for_next(page, key: str) -> int:
    # Selector waits only: a string predicate is evaluated with eval(), which the page's
    # Content-Security-Policy (rightly) refuses.
    before = _shown(page)
    page.keyboard.press(key)
    page.wait_for_selector(f"#focus:not([data-item-id='{before}'])")
    return _shown(page)


def test_reviewer_works_a_queue_from_the_keyboard(page, live_server, log_in, lua, screenshot):
    reviewer = do_create_user("rita", role=REVIEWER, password=PASSWORD, languages=[lua])
    samples = _seed_queue(lua)
    log_in(page, reviewer, then="/review/")
    page.click("a[href='/review/lua/syntax/']")
    page.wait_for_selector("#focus[data-item-id]")
    assert _shown(page) == samples[0].pk
    assert "55" in page.inner_text("#focus .execution")
    screenshot(page, "focus-view")
    page.evaluate("window.__sameDocument = true")  # survives only if no full page load happens

    # Three accepts from the keyboard, a rating on the first.
    page.keyboard.press("4")
    assert page.is_checked("input[name=rating][value='4']")
    for expected_next in samples[1:4]:
        assert _press_and_wait_for_next(page, "a") == expected_next.pk
    assert "Accepted" in page.inner_text("#focus .notice")

    # The fourth program fails; the reviewer edits it and sees it re-run.
    assert "Runtime Error" in page.inner_text("#focus .item-head")
    page.keyboard.press("e")
    editor = page.locator("#focus textarea[name=code]")
    assert editor.is_visible()
    editor.fill("print(1 + 41)\n")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#focus .revision")
    revision = page.inner_text("#focus .revision")
    run = Execution.objects.filter(sample=None).order_by("-pk").first()
    assert run is not None and run.verdict == "ok", (run and run.error_message, run and run.stderr)
    assert "42" in revision and "Ok" in revision
    assert "Accept edit" in page.inner_text("#focus .actionbar")
    screenshot(page, "focus-edit")
    assert _press_and_wait_for_next(page, "a") == samples[4].pk

    # The last is rejected with the second reason, picked by number.
    page.keyboard.press("r")
    assert page.is_visible("#focus details[data-panel=reject] .panel")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#focus .empty-queue")
    assert "Rejected" in page.inner_text("#focus .notice")
    assert page.evaluate("window.__sameDocument") is True

    reasons = ReviewQueue(language=lua, kind="syntax").reject_reasons
    statuses = dict(Sample.objects.filter(language=lua).values_list("pk", "status"))
    assert [statuses[s.pk] for s in samples] == ["accepted"] * 4 + ["rejected"]
    first = Review.objects.get(sample=samples[0], decision="accept")
    assert first.rating == 4 and first.reviewer == reviewer
    edited = Review.objects.get(sample=samples[3], decision="accept")
    assert edited.edited_code == "print(1 + 41)\n" and edited.edited_execution.stdout == "42\n"
    assert Sample.objects.get(pk=samples[3].pk).code == "print(1 + nil)\n"  # the original stays
    rejected = Review.objects.get(sample=samples[4], decision="reject")
    assert rejected.reason == reasons[1]

    # Undo brings the rejected item back, still without a page load.
    page.keyboard.press("u")
    page.wait_for_selector(f"#focus[data-item-id='{samples[4].pk}']")
    assert Sample.objects.get(pk=samples[4].pk).status == ReviewStatus.PENDING
    page.keyboard.press("?")
    assert page.is_visible("dialog#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("dialog#help")

    # Browse: search, then the results; a screenshot for the README.
    page.goto(f"{live_server.url}/review/lua/browse/")
    page.fill("input[name=q]", "reviewer")
    page.press("input[name=q]", "Enter")
    expect(page.locator("table.browse tbody tr")).to_have_count(1)
    assert "Greet the reader." in page.inner_text("table.browse")
    page.goto(f"{live_server.url}/review/lua/browse/")
    screenshot(page, "browse")


def test_pm_sees_queues_but_cannot_reach_admin_actions(page, live_server, log_in, lua):
    pm = do_create_user("paula", role=PM, password=PASSWORD)
    do_create_user("ada", role=ADMIN, password=PASSWORD)
    _seed_queue(lua)
    log_in(page, pm, then="/review/")
    text = page.inner_text("main")
    assert "Review queues" in text and "Syntax" in text
    assert page.locator("a:has-text('Settings')").count() == 0
    assert page.locator("a:has-text('Adjudicate')").count() == 0
    assert page.locator(".queue-table a.button:has-text('Review')").count() == 0
    assert page.locator("header nav a:has-text('Admin')").count() == 0
    assert page.locator("a:has-text('Agreement')").count() == 1  # dashboards are theirs

    forbidden = ["/review/lua/syntax/settings/", "/review/lua/disputes/", "/review/lua/syntax/"]
    for path in forbidden:
        assert page.goto(f"{live_server.url}{path}").status == 403, path
    admin = page.goto(f"{live_server.url}/admin/curation/language/")
    assert "/admin/login/" in page.url and admin.status == 200  # the Django admin asks for an admin login
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    sample = Sample.objects.filter(language=lua).first()
    for path, data in [(f"/review/lua/syntax/{sample.pk}/decide/", {"decision": "accept"}),
                       ("/review/lua/browse/bulk/", {"decision": "accept", "matched": "5", "confirm": "on"}),
                       (f"/review/lua/syntax/{sample.pk}/adjudicate/", {"decision": "accept"}),
                       ("/review/lua/syntax/settings/", {"overlap": "3", "order": "oldest", "lease_minutes": "30",
                                                         "reject_reasons": "x"})]:
        response = page.request.post(f"{live_server.url}{path}", form=data, headers={"X-CSRFToken": csrf})
        assert response.status == 403, path
        assert "CSRF" not in response.text(), path  # refused for the role, not for a bad token
    assert not Review.objects.exists() and not ReviewQueue.objects.exists()
    page.problems.clear()  # the 403s above are what this test wanted


@pytest.mark.parametrize("via", ["focus", "detail"])
def test_script_in_generated_code_and_output_shows_as_text(page, live_server, log_in, lua, via):
    reviewer = do_create_user("rita", role=REVIEWER, password=PASSWORD, languages=[lua])
    sample = Sample.objects.create(
        language=lua, kind="syntax", prompt='Print <img src=x onerror="window.__xss = 2">',
        code='print("<script>window.__xss = 1</script>")', generator="grammar-mutate", content_hash="xss",
        verdict="ok")
    Execution.objects.create(sample=sample, code_hash="x", verdict="ok",
                             stdout="<script>window.__xss = 3</script>\n\x1b[31mred\x1b[0m\n",
                             stderr="</pre><script>window.__xss = 4</script>")
    path = "/review/lua/syntax/" if via == "focus" else f"/review/lua/samples/{sample.pk}/"
    log_in(page, reviewer, then=path)
    page.wait_for_selector(".execution")
    assert page.evaluate("window.__xss") is None
    assert page.locator("script:not([src])").count() == 0
    assert '<script>window.__xss = 1</script>' in page.inner_text("div.code")
    outputs = page.inner_text(".execution")
    assert "<script>window.__xss = 3</script>" in outputs and "</pre><script>window.__xss = 4</script>" in outputs
    assert "\u241b[31mred" in outputs  # the ANSI escape is shown, not obeyed
    assert '<img src=x onerror="window.__xss = 2">' in page.inner_text("pre.text")
