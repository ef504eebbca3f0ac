"""Every checkpoint a training job registers is evaluated automatically."""
from __future__ import annotations

import pytest

from curation.jobs import create_job
from curation.models import Job
from evaluation.models import EvalRun, Suite
from tests.evaluation.conftest import make_checkpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def quick_auto_suite(pack_suites):
    """Only lua-test runs automatically, with defaults small enough for a test."""
    Suite.objects.update(auto=False)
    suite = pack_suites["lua-test"]
    Suite.objects.filter(pk=suite.pk).update(auto=True, default_n=1, default_max_new_tokens=8)
    return suite


def test_a_checkpoint_from_a_training_job_is_evaluated(lua, tiny_model_dir, quick_auto_suite,
                                                       django_capture_on_commit_callbacks):
    job = create_job(Job.Kind.TRAINING, language=lua)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint(lua, tiny_model_dir, name="sft-1", method="sft", job=job)
    runs = list(EvalRun.objects.filter(checkpoint=checkpoint))
    assert [(r.suite.name, r.trigger, r.status) for r in runs] == [("lua-test", "auto", "finished")]
    assert runs[0].sample_count == quick_auto_suite.problems.count()


def test_a_checkpoint_registered_by_hand_waits_to_be_asked(lua, tiny_model_dir, quick_auto_suite,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint(lua, tiny_model_dir)
    assert not EvalRun.objects.filter(checkpoint=checkpoint).exists()


def test_saving_a_checkpoint_again_starts_nothing_new(lua, tiny_model_dir, quick_auto_suite,
                                                     django_capture_on_commit_callbacks):
    job = create_job(Job.Kind.TRAINING, language=lua)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        checkpoint = make_checkpoint(lua, tiny_model_dir, name="sft-1", method="sft", job=job)
        checkpoint.metrics = {"train_loss": 1.0}
        checkpoint.save(update_fields=["metrics"])
    assert len(callbacks) == 1


def test_automatic_evaluation_can_be_switched_off(lua, tiny_model_dir, quick_auto_suite, settings,
                                                  django_capture_on_commit_callbacks):
    settings.EVALUATION_AUTO = False
    job = create_job(Job.Kind.TRAINING, language=lua)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_checkpoint(lua, tiny_model_dir, name="sft-1", method="sft", job=job)
    assert callbacks == [] and not EvalRun.objects.exists()
