"""A language's triage rules, from its pack, decide what a synthesis job sends to review
and what it rejects automatically; the reason is stored with the item."""
from __future__ import annotations

import pytest
from django.db import transaction

from curation.actions import _store_pack
from curation.models import Job, ReviewStatus, Sample
from curation.packs import read_pack
from synthesis import registry
from synthesis.actions import do_start_synthesis

pytestmark = pytest.mark.django_db


@pytest.fixture
def language_with(lua_pack_copy, monkeypatch):
    """The Lua pack with `table` added to its language.toml, onboarded."""
    monkeypatch.setitem(registry.GENERATORS, "test.numbers", "tests.synthesis.failing_generators:prints_numbers")

    def onboard(table: str):
        path = lua_pack_copy / "language.toml"
        path.write_text(path.read_text() + "\n" + table)
        with transaction.atomic():
            return _store_pack(read_pack(lua_pack_copy)).language

    return onboard


@pytest.fixture
def run_synthesis(django_capture_on_commit_callbacks):
    def run(language, **kwargs) -> Job:
        # test.numbers writes two-line programs: `local x = i` and a print.
        with django_capture_on_commit_callbacks(execute=True):
            job = do_start_synthesis(language, "test.numbers", count=4, seed=1, **kwargs)
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        return job

    return run


def test_pack_rule_that_rejects_stores_items_auto_rejected_with_the_reason(language_with, run_synthesis):
    language = language_with("[triage.length]\nmax_lines = 1\n")
    job = run_synthesis(language)
    samples = list(Sample.objects.filter(job=job))
    assert len(samples) == 4 and job.counters["auto_rejected"] == 4
    assert {s.status for s in samples} == {ReviewStatus.AUTO_REJECTED}
    assert all(s.triage_reason.startswith("length: too long: 2 line(s)") for s in samples)


def test_pack_rule_that_sends_to_review_stores_items_pending_with_the_reason(language_with, run_synthesis):
    language = language_with('[triage.length]\nmax_lines = 1\naction = "review"\n')
    job = run_synthesis(language)
    samples = list(Sample.objects.filter(job=job))
    assert len(samples) == 4 and not job.counters.get("auto_rejected")
    assert {s.status for s in samples} == {ReviewStatus.PENDING}
    assert all(s.triage_reason.startswith("length: ") for s in samples)


def test_job_rules_override_the_languages_setting_by_setting(language_with, run_synthesis):
    language = language_with("[triage.length]\nmax_lines = 1\n")
    job = run_synthesis(language, triage={"length": {"action": "review"}})
    assert job.params["triage"] == {"length": {"action": "review"}}
    samples = list(Sample.objects.filter(job=job))
    assert {s.status for s in samples} == {ReviewStatus.PENDING}
    assert all(s.triage_reason.startswith("length: ") for s in samples)  # max_lines = 1 still holds


def test_without_rules_the_same_programs_pass_triage(language_with, run_synthesis):
    language = language_with("")
    job = run_synthesis(language)
    samples = list(Sample.objects.filter(job=job))
    assert len(samples) == 4 and {(s.status, s.triage_reason) for s in samples} == {(ReviewStatus.PENDING, "")}
