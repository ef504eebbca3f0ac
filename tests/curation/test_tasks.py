"""Curation's Celery tasks: the beat sweep that re-sends jobs a restarted broker lost."""
from __future__ import annotations

import pytest


def test_lost_job_sweep_is_on_the_beat_schedule_under_a_registered_task():
    import curation.tasks  # noqa: F401 — registers the tasks
    from scriptorium.celery import app

    entry = app.conf.beat_schedule["requeue-lost-jobs"]
    assert entry["task"] in app.tasks
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "sandbox"
    assert 0 < entry["schedule"] <= 600


@pytest.mark.django_db
def test_lost_job_sweep_sends_nothing_when_tasks_run_in_process():
    from curation.tasks import requeue_lost

    assert requeue_lost() == []
