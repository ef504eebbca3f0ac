"""A training job whose worker dies mid-job: the job is redelivered, resumes from the last
checkpoint in its folder and finishes; the step count goes on, nothing is registered twice."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from curation.actions import do_freeze_dataset
from curation.models import Job, ReviewStatus, Sample
from training.actions import do_start_training
from training.models import Checkpoint, TrainingPoint
from tests.worker.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

# The tiny base: a step takes a fraction of a second, a checkpoint every two steps.
QUICK = {"batch_size": 2, "max_length": 96, "logging_steps": 1, "save_steps": 2, "threads": 1}
STEPS = 10


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    """Built once for this module's tests, in a folder the worker can read."""
    from tests.training.lua_samples import LUA_KEEP_WHOLE, LUA_SNIPPETS
    from training.tiny_base import build_tiny_base

    return str(build_tiny_base(LUA_SNIPPETS, tmp_path_factory.mktemp("tiny-base"), keep_whole=LUA_KEEP_WHOLE))


@pytest.fixture
def dataset(lua, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the worker's DATA_DIR too: the dataset and the job's folder live here
    settings.EVALUATION_AUTO = False
    Sample.objects.bulk_create(
        Sample(language=lua, kind="semantic", prompt=f"Print {i} squared.", code=f"print({i} * {i})",
               generator="test", content_hash=f"sq{i}", status=ReviewStatus.ACCEPTED, verdict="ok")
        for i in range(12))
    return do_freeze_dataset(lua, "main", dev_percent=0)


def _complete_checkpoints(folder: Path) -> list[int]:
    """Steps of the checkpoints whose save finished (trainer_state.json is written last)."""
    steps = []
    for child in folder.glob("checkpoint-*"):
        try:
            json.loads((child / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        steps.append(int(child.name.split("-")[1]))
    return sorted(steps)


def _attempt_of_each_step(job) -> dict[int, int]:
    return dict(TrainingPoint.objects.filter(job=job).values_list("step", "extra__attempt"))


def test_training_worker_killed_mid_job_resumes_from_its_last_checkpoint(worker, lua, dataset, tiny_base):
    job = do_start_training(language=lua, method="sft", dataset=dataset, base=tiny_base,
                            config={**QUICK, "max_steps": STEPS})
    folder = Path(job.params["output_dir"])
    wait_for(lambda: _complete_checkpoints(folder), timeout=240, interval=0.1)
    (child,) = psutil.Process(worker.process.pid).children()
    os.kill(child.pid, signal.SIGKILL)
    # Read after the kill: a later checkpoint may have finished in between.
    saved = max(_complete_checkpoints(folder))
    assert saved < STEPS, "the job finished before it could be killed; give it more steps"
    killed_at = time.monotonic()

    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=300)
    job.refresh_from_db()
    print(f"\nkilled after checkpoint-{saved} of {STEPS} steps; attempt 2 finished {time.monotonic() - killed_at:.0f} s later")
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert job.attempts == 2
    assert f"resuming from {folder / f'checkpoint-{saved}'}" in job.log_tail
    attempts = _attempt_of_each_step(job)
    assert sorted(attempts) == list(range(1, STEPS + 1))  # every step once (one row per step)
    # The second attempt took over right after the checkpoint; it did not start from step 1.
    assert min(step for step, attempt in attempts.items() if attempt == 2) == saved + 1
    assert {attempts[step] for step in range(1, saved + 1)} == {1}
    (checkpoint,) = Checkpoint.objects.filter(job=job)
    assert checkpoint.metrics["steps"] == STEPS and checkpoint.metrics["stopped_early"] is False
    assert job.counters["step"] == STEPS and job.progress == 1.0
    assert worker.alive() and child.pid not in [c.pid for c in psutil.Process(worker.process.pid).children()]


@pytest.mark.django_db(transaction=True)
def test_redelivered_training_skips_a_checkpoint_whose_save_was_interrupted(lua, dataset, tiny_base):
    from curation.jobs import run_job
    from training.tasks import train

    job = do_start_training(language=lua, method="sft", dataset=dataset, base=tiny_base,
                            config={**QUICK, "max_steps": 4}, send=False)
    run_job(job.pk, train)
    folder = Path(job.params["output_dir"])
    assert _complete_checkpoints(folder) == [2, 4]
    # What a worker killed while saving step 4 leaves: the weights, not yet the trainer state.
    (folder / "checkpoint-4" / "trainer_state.json").unlink()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, finished_at=None, progress=0.5)

    run_job(job.pk, train)  # the redelivery
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert "removed checkpoint-4: its save was interrupted" in job.log_tail
    assert f"resuming from {folder / 'checkpoint-2'}" in job.log_tail
    assert _attempt_of_each_step(job) == {1: 1, 2: 1, 3: 2, 4: 2}
    assert _complete_checkpoints(folder) == [2, 4]
    (checkpoint,) = Checkpoint.objects.filter(job=job)
    assert checkpoint.metrics["steps"] == 4
