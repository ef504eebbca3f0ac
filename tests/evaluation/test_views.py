"""The PM's pages and the JSON API."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from evaluation.models import EvalRun
from tests.evaluation.conftest import run_now

pytestmark = pytest.mark.django_db


def record_reference_run(checkpoint, suite, *, limit: int):
    """A run whose samples are the suite's reference solutions, judged for real: what a
    perfect model would score, to compare a real run against."""
    from curation.packs import read_pack
    from evaluation.actions import do_record_results, do_start_run
    from evaluation.harness import Attempt, judge, self_test
    from evaluation.runner import load_problems, summarize_run

    run = do_start_run(checkpoint, suite, n=1, limit=limit, send=False, trigger="cli")
    problems, rows = load_problems(run)
    pack = read_pack(suite.language.pack_path).pack
    judgements = judge(pack, [Attempt(p, p.reference) for p in problems])
    metrics, clusters = summarize_run(judgements, problems, [1], pack.grammar)
    do_record_results(run, judgements=judgements, traces={}, problems=rows, report=self_test(pack, problems),
                      metrics=metrics, clusters=clusters, generation_seconds=0.0, seconds=0.0)
    return EvalRun.objects.get(pk=run.pk)


@pytest.fixture
def two_runs(tiny_checkpoint, second_checkpoint, pack_suites):
    suite = pack_suites["lua-test"]
    tiny = run_now(tiny_checkpoint, suite, n=1, max_new_tokens=8, limit=3)
    perfect = record_reference_run(second_checkpoint, suite, limit=3)
    return tiny, perfect


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("evaluation-view-dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_reviewers_do_not_see_the_dashboard_or_its_link(login, reviewer, lua):
    client = login(reviewer)
    assert client.get(reverse("evaluation-view-dashboard")).status_code == 403
    assert reverse("evaluation-view-dashboard") not in client.get(reverse("curation-home")).content.decode()


def test_pms_find_the_dashboard_in_the_navigation(login, pm, lua):
    page = login(pm).get(reverse("curation-home")).content.decode()
    assert f'href="{reverse("evaluation-view-dashboard")}">Dashboard</a>' in page


def test_dashboard_shows_trends_leaderboard_and_legend(login, pm, two_runs):
    tiny, perfect = two_runs
    response = login(pm).get(reverse("evaluation-view-dashboard"))
    page = response.content.decode()
    trends = json.loads(page.split('id="trend-data" type="application/json">')[1].split("</script>")[0])
    chart = next(t for t in trends if t["suite"] == "lua-test")
    assert chart["checkpoints"] == ["tiny-base", "tiny-copy"]
    assert chart["series"]["Pass@1"] == [round(tiny.headline, 4), 1.0]
    assert chart["low"][1] < 1.0 == chart["high"][1]
    assert "js/chart.umd.min.js" in page and "js/evaluation-dashboard.js" in page and "<script>" not in page
    leaderboard = page.split('id="leaderboard"')[1].split("</section>")[0]
    assert leaderboard.index("tiny-copy") < leaderboard.index("tiny-base")
    assert "DocGrounded@1" in page and "Wilson interval" in page


def test_run_page_drills_down_to_each_completion_and_its_execution(login, pm, two_runs):
    tiny, _ = two_runs
    client = login(pm)
    page = client.get(reverse("evaluation-view-run", args=[tiny.pk])).content.decode()
    assert "self-test passed" in page and "By error type" in page and "By grammar construct" in page
    sample = tiny.samples.select_related("problem").first()
    assert reverse("evaluation-view-problem", args=[tiny.pk, sample.problem_id]) in page
    detail = client.get(reverse("evaluation-view-problem", args=[tiny.pk, sample.problem_id])).content.decode()
    assert sample.verdict in detail and "Sample 0" in detail
    if sample.error_message:
        assert escape(sample.error_message.splitlines()[0]) in detail


def test_comparison_shows_the_problems_that_flipped(login, pm, two_runs):
    tiny, perfect = two_runs
    page = login(pm).get(reverse("evaluation-compare-runs"), {"a": tiny.pk, "b": perfect.pk}).content.decode()
    flips = page.split('class="grid flips"')[1].split("</table>")[0]
    fixed = [row for row in flips.split("<tr") if "fail→pass" in row]
    assert len(fixed) == 3 - round(3 * tiny.headline)
    assert f"{len(fixed)} fixed" in page


def test_run_status_fragment_polls_until_the_run_is_done(login, pm, tiny_checkpoint, pack_suites):
    from evaluation.actions import do_start_run

    run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, send=False)
    client = login(pm)
    fragment = client.get(reverse("evaluation-view-run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in fragment.content.decode() and "<html" not in fragment.content.decode()
    EvalRun.objects.filter(pk=run.pk).update(status="finished")
    fragment = client.get(reverse("evaluation-view-run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in fragment.content.decode() and fragment["HX-Refresh"] == "true"


def test_starting_a_run_from_the_ui_queues_it(login, pm, tiny_checkpoint, pack_suites):
    suite = pack_suites["lua-test"]
    response = login(pm).post(reverse("evaluation-start-run"), {
        "checkpoint": tiny_checkpoint.pk, "suite": suite.pk, "mode": "uplift", "n": 2, "max_new_tokens": 16,
        "repair_rounds": 1, "few_shot": 0, "retrieval": "on"})
    plain, assisted = EvalRun.objects.order_by("pk")
    assert response.status_code == 302 and response.url == reverse("evaluation-view-run", args=[assisted.pk])
    assert (plain.mode, assisted.mode, assisted.baseline_id) == ("plain", "assistant", plain.pk)
    assert plain.trigger == "ui" and plain.settings["n"] == 2 and plain.created_by.username == "pm"


def test_api_starts_a_run_with_session_and_csrf(pm, tiny_checkpoint, pack_suites):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pm)
    url = reverse("evaluation-api-runs")
    body = json.dumps({"checkpoint": tiny_checkpoint.pk, "suite": "lua-test", "n": 3, "limit": 2})
    assert client.post(url, body, content_type="application/json").status_code == 403
    client.get(reverse("evaluation-view-dashboard"))
    token = client.cookies["csrftoken"].value
    response = client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    created = response.json()["runs"][0]
    assert created["status"] == "queued" and created["settings"]["n"] == 3 and created["suite"] == "lua-test"
    shown = client.get(reverse("evaluation-api-run", args=[created["id"]])).json()
    assert shown["id"] == created["id"] and shown["checkpoint"]["name"] == "tiny-base"


def test_api_refuses_what_it_cannot_run(login, pm, tiny_checkpoint, pack_suites):
    client = login(pm)
    url = reverse("evaluation-api-runs")
    bad = client.post(url, json.dumps({"checkpoint": tiny_checkpoint.pk, "suite": "lua-test", "n": 500}),
                      content_type="application/json")
    assert bad.status_code == 400 and "n must be between" in bad.json()["error"]
    missing = client.post(url, json.dumps({"checkpoint": tiny_checkpoint.pk, "suite": "no-such-suite"}),
                          content_type="application/json")
    assert missing.status_code == 404
    assert not EvalRun.objects.exists()


def test_api_is_for_pms(login, reviewer, client):
    assert client.get(reverse("evaluation-api-runs")).status_code == 401
    assert login(reviewer).get(reverse("evaluation-api-runs")).status_code == 403


def test_suites_page_marks_the_benchmark_evaluation_only(login, pm, humaneval_suite):
    page = login(pm).get(reverse("evaluation-list-suites")).content.decode()
    assert "humaneval-lua" in page and "evaluation only" in page and "Import a MultiPL-E file" not in page


def test_admin_imports_a_benchmark_file(login, admin_user, lua):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.evaluation.conftest import HUMANEVAL_LUA

    lines = HUMANEVAL_LUA.read_bytes().splitlines(keepends=True)[:5]
    upload = SimpleUploadedFile("he-small.jsonl", b"".join(lines))
    response = login(admin_user).post(reverse("evaluation-import-suite", args=["lua"]), {"file": upload})
    assert response.status_code == 302
    assert lua.suites.get(name="he-small").problems.count() == 5
    broken = SimpleUploadedFile("broken.jsonl", b'{"name": "x"}\n')
    refused = login(admin_user).post(reverse("evaluation-import-suite", args=["lua"]), {"file": broken})
    assert refused.status_code == 400 and "broken.jsonl:1" in refused.content.decode()
