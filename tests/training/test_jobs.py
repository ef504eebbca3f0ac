"""Training jobs through the Django shell: a frozen dataset, real steps on the tiny base,
live points, a registered checkpoint; refusals happen before anything is queued."""
from __future__ import annotations

import threading
import time

import pytest

from curation.actions import do_freeze_dataset
from curation.models import Job, PreferencePair, ReviewStatus, Sample
from training.actions import do_build_tiny_base, do_resume_training, do_start_training
from training.config import ConfigError
from training.models import Checkpoint, TrainingPoint

FAST = {"max_steps": 4, "batch_size": 2, "max_length": 96, "logging_steps": 1, "save_steps": 2, "threads": 1}


@pytest.fixture
def data_dir(tmp_path_factory, settings):
    # One folder for the session's tiny base; datasets and checkpoints beside it.
    folder = tmp_path_factory.getbasetemp() / "training-jobs"
    folder.mkdir(exist_ok=True)
    settings.DATA_DIR = folder
    settings.EVALUATION_AUTO = False  # these tests are about training; evaluation tests its own hook
    return folder


@pytest.fixture
def dataset(lua, data_dir):
    rows = [Sample(language=lua, kind="semantic", prompt=f"Print {i} squared.", code=f"print({i} * {i})",
                   generator="test", content_hash=f"sq{i}", status=ReviewStatus.ACCEPTED, verdict="ok")
            for i in range(12)]
    Sample.objects.bulk_create(rows)
    PreferencePair.objects.bulk_create([
        PreferencePair(language=lua, prompt=f"Write add{i}(a, b).", chosen=f"function add{i}(a, b) return a + b end",
                       rejected=f"function add{i}(a, b) return a - b end", generator="test", content_hash=f"p{i}",
                       status=ReviewStatus.ACCEPTED) for i in range(6)])
    return do_freeze_dataset(lua, "main", dev_percent=0)


def _start(django_capture_on_commit_callbacks, **kwargs) -> Job:
    with django_capture_on_commit_callbacks(execute=True):
        job = do_start_training(**kwargs)
    job.refresh_from_db()
    return job


@pytest.mark.slow
@pytest.mark.django_db
def test_sft_job_records_points_and_registers_a_checkpoint(lua, dataset, django_capture_on_commit_callbacks):
    job = _start(django_capture_on_commit_callbacks, language=lua, method="sft", dataset=dataset, base="tiny", config=FAST)
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    points = list(TrainingPoint.objects.filter(job=job).order_by("step"))
    assert [p.step for p in points][:4] == [1, 2, 3, 4]
    assert all(p.loss is not None and p.loss > 0 for p in points)
    checkpoint = Checkpoint.objects.get(job=job)
    assert checkpoint.method == "sft" and checkpoint.dataset == dataset and checkpoint.adapter == "lora"
    assert checkpoint.parent.method == "base"
    assert checkpoint.metrics["steps"] == 4
    assert job.counters["step"] == 4 and job.progress == 1.0


@pytest.mark.slow
@pytest.mark.django_db
def test_dpo_job_runs_on_the_pairs(lua, dataset, django_capture_on_commit_callbacks):
    job = _start(django_capture_on_commit_callbacks, language=lua, method="dpo", dataset=dataset, base="tiny",
                 config={**FAST, "max_steps": 2})
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert Checkpoint.objects.filter(job=job, method="dpo").exists()


@pytest.mark.django_db
def test_unknown_config_key_is_refused_before_queueing(lua, dataset):
    with pytest.raises(ConfigError) as caught:
        do_start_training(language=lua, method="sft", dataset=dataset, base="tiny", config={"learning_rat": 1e-4})
    assert "learning_rat" in str(caught.value) and "learning_rate" in str(caught.value)
    assert not Job.objects.filter(kind=Job.Kind.TRAINING).exists()


@pytest.mark.django_db
def test_impossible_value_is_refused(lua, dataset):
    with pytest.raises(ConfigError, match="batch_size"):
        do_start_training(language=lua, method="sft", dataset=dataset, base="tiny", config={"batch_size": 0})


@pytest.mark.django_db
def test_base_model_that_is_not_a_model_is_refused(lua, dataset, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ConfigError, match="base_model"):
        do_start_training(language=lua, method="sft", dataset=dataset, base=str(tmp_path))


@pytest.mark.django_db
def test_method_without_rows_in_the_dataset_is_refused(lua, data_dir):
    Sample.objects.create(language=lua, kind="syntax", code="print(1)", generator="t", content_hash="only",
                          status=ReviewStatus.ACCEPTED)
    dataset = do_freeze_dataset(lua, "cpt-only", dev_percent=0)
    with pytest.raises(ConfigError, match="no dpo rows"):
        do_start_training(language=lua, method="dpo", dataset=dataset, base="tiny")


@pytest.mark.django_db
def test_tiny_base_is_built_once(lua, data_dir):
    first = do_build_tiny_base(lua)
    assert do_build_tiny_base(lua).pk == first.pk
    assert first.method == "base"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_keeps_the_last_checkpoint_and_resume_continues(lua, dataset):
    from curation.jobs import run_job
    from training.tasks import train

    job = do_start_training(language=lua, method="sft", dataset=dataset, base="tiny",
                            config={**FAST, "max_steps": 400, "save_steps": 2}, send=False)

    def cancel_after_first_points():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not TrainingPoint.objects.filter(job=job, step__gte=3).exists():
            time.sleep(0.2)
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    watcher = threading.Thread(target=cancel_after_first_points)
    watcher.start()
    run_job(job.pk, train)
    watcher.join()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED, job.error + job.log_tail
    stopped = Checkpoint.objects.get(job=job)
    assert stopped.metrics["stopped_early"] is True
    stopped_at = int(stopped.metrics["steps"])
    assert 3 <= stopped_at < 400

    resumed = do_resume_training(job, send=False)
    Job.objects.filter(pk=resumed.pk).update(params={**resumed.params, "config": {**resumed.params["config"], "max_steps": stopped_at + 2}})
    run_job(resumed.pk, train)
    resumed.refresh_from_db()
    assert resumed.status == Job.Status.SUCCEEDED, resumed.error + resumed.log_tail
    steps = list(TrainingPoint.objects.filter(job=resumed).values_list("step", flat=True))
    assert min(steps) > stopped_at
    assert Checkpoint.objects.get(job=resumed).metrics["steps"] == stopped_at + 2
