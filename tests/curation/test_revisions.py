"""Whatever reads accepted samples as data reads a reviewer's accepted edit, not the original."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from curation.models import Review, ReviewStatus, Sample
from curation.revisions import accepted_sample_code

pytestmark = pytest.mark.django_db


def _accepted(lua, reviewer, code: str, *decisions: tuple[str, str]) -> Sample:
    """An accepted sample whose reviews were (decision, edited code), a minute apart."""
    sample = Sample.objects.create(language=lua, kind="syntax", prompt="Print a number.", code=code, generator="t",
                                   content_hash=code, status=ReviewStatus.ACCEPTED)
    start = timezone.now() - dt.timedelta(minutes=10)
    for minutes, (decision, edited) in enumerate(decisions):
        review = Review.objects.create(sample=sample, reviewer=reviewer, decision=decision, edited_code=edited)
        Review.objects.filter(pk=review.pk).update(created_at=start + dt.timedelta(minutes=minutes))
    return sample


def test_an_accepted_edit_replaces_the_code_and_other_rows_are_left_as_they_are(lua, reviewer):
    edited = _accepted(lua, reviewer, "print(1)", ("accept", "print(10)"))
    plain = _accepted(lua, reviewer, "print(2)", ("accept", ""))
    rows = [(plain.pk, "a", "print(2)"), (edited.pk, "b", "print(1)")]
    assert accepted_sample_code(rows) == [(plain.pk, "a", "print(2)"), (edited.pk, "b", "print(10)")]


def test_an_edit_its_reviewer_undid_is_not_the_accepted_code(lua, reviewer):
    sample = _accepted(lua, reviewer, "print(1)", ("accept", "print(10)"), ("undo", ""), ("accept", ""))
    assert accepted_sample_code([(sample.pk, "print(1)")]) == [(sample.pk, "print(1)")]


def test_synthesis_grows_from_the_accepted_edit(lua, reviewer):
    from synthesis.chunks import accepted_code

    _accepted(lua, reviewer, "print(1)", ("accept", "print(10)"))
    assert accepted_code(lua) == ["print(10)"]


def test_few_shot_prompts_show_the_accepted_edit(lua, reviewer):
    from evaluation.assistant import accepted_shots

    sample = _accepted(lua, reviewer, "print(1)", ("accept", "print(10)"))
    Sample.objects.filter(pk=sample.pk).update(kind="transpile")
    shots = accepted_shots(lua)
    assert [shot.body for shot in shots] == ["print(10)"]


def test_the_tokenizers_corpus_has_the_accepted_edit(lua, reviewer):
    from training.actions import tiny_base_corpus

    _accepted(lua, reviewer, "print(123456789)", ("accept", "print(987654321)"))
    corpus = tiny_base_corpus(lua)
    assert "print(987654321)" in corpus and "print(123456789)" not in corpus


def test_an_item_settled_by_adjudication_is_accepted_as_generated(lua, reviewer, admin_user):
    sample = _accepted(lua, reviewer, "print(1)", ("accept", "print(10)"))
    Review.objects.create(sample=sample, reviewer=admin_user, decision="accept", adjudication=True)
    assert accepted_sample_code([(sample.pk, "print(1)")]) == [(sample.pk, "print(1)")]


def test_self_training_describes_and_stores_the_accepted_edit(lua, reviewer):
    from curation.models import Job
    from training.actions import do_store_backtranslations, unlabelled_code

    sample = _accepted(lua, reviewer, "print(1 + 2)", ("accept", "print(1 + 2 + 3)"))
    Sample.objects.filter(pk=sample.pk).update(prompt="")
    assert [s.code for s in unlabelled_code(lua, limit=10)] == ["print(1 + 2 + 3)"]
    job = Job.objects.create(language=lua, kind=Job.Kind.SELF_TRAINING, params={"seed": 0})
    assert do_store_backtranslations(job, 1, [(sample.pk, "Print the sum of 1, 2 and 3.")], model_name="r") == 1
    assert Sample.objects.get(parent=sample).code == "print(1 + 2 + 3)"
    sample.refresh_from_db()
    assert sample.code == "print(1 + 2)"  # the original stays as generated
