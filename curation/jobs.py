"""Running long work as a Job: attempts, progress, cancellation, a log tail.

A Celery task calls `run_job(job_id, body)`. With acks late and reject-on-worker-lost a
worker that dies mid-task has its message redelivered; the broker does not count
redeliveries, so the attempt counter lives on the row and the job fails after
`max_attempts` with the reason. An exception inside `body` fails the job at once: the
same input would fail the same way again.
"""
from __future__ import annotations

import logging
import time
import traceback
import uuid
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.models import Job

log = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


class JobCancelled(Exception):
    """Raised inside a job's body when a user asked it to stop."""


def create_job(kind: str, *, language=None, params: dict | None = None, created_by=None) -> Job:
    return Job.objects.create(
        kind=kind,
        language=language,
        params=params or {},
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        max_attempts=settings.JOB_MAX_ATTEMPTS,
    )


def enqueue(job: Job, task, *args, queue: str) -> None:
    """Send the task once the surrounding transaction commits (a rolled-back job never runs).

    The job's row records what was sent (`params["queued_as"]`), so `requeue_lost_jobs`
    can send it again if the broker loses the message."""
    job.params = {**job.params, QUEUED_AS: {"task": task.name, "args": list(args), "queue": queue}}
    Job.objects.filter(pk=job.pk).update(params=job.params)

    def send():
        result = task.apply_async(args=[job.pk, *args], queue=queue)
        Job.objects.filter(pk=job.pk, task_id="").update(task_id=result.id or "")

    transaction.on_commit(send)


QUEUED_AS = "queued_as"


def requeue_lost_jobs(*, quiet_for: timedelta) -> list[int]:
    """Send again every queued or running job whose message the broker no longer holds and
    that has shown no sign of life (heartbeat, or creation) for `quiet_for`; return their ids.

    A Redis broker keeps its queues in memory: restarted without persistence it forgets
    both the messages waiting in a queue and the unacknowledged ones of running tasks
    (which the worker terminates when it loses the connection:
    `worker_cancel_long_running_tasks_on_connection_loss`). Such a job would stay
    "queued" or "running" forever. Sent again, it runs as a redelivery does: `run_job`
    counts the attempt (and gives up after `max_attempts`), synthesis skips the chunks it
    stored, training resumes from its last checkpoint. Run it from cron or after a broker
    restart (`manage.py requeue_jobs`). A message a worker is taking at this moment moves
    from its queue to the unacknowledged set; the broker is read twice, a second apart, so
    that move is not mistaken for a loss. Jobs enqueued before their route was recorded,
    and jobs run in-process (no task), are left alone.
    """
    from django.db.models import Q
    from django.db.models.functions import Coalesce

    cutoff = timezone.now() - quiet_for
    candidates = set(
        Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING], params__has_key=QUEUED_AS)
        .annotate(seen=Coalesce("heartbeat_at", "created_at")).filter(seen__lt=cutoff)
        .values_list("pk", flat=True))
    if not candidates:
        return []
    first = _task_ids_in_broker()
    if first is None:
        return []  # not a broker whose contents can be read (the in-process default)
    time.sleep(1.0)
    second = _task_ids_in_broker() or set()
    requeued = []
    for pk in sorted(candidates):
        with transaction.atomic():
            job = (Job.objects.select_for_update(skip_locked=True)
                   .filter(pk=pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
                   .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
                   .first())
            if job is None or (job.task_id and (job.task_id in first or job.task_id in second)):
                continue
            route = job.params[QUEUED_AS]
            task_id = str(uuid.uuid4())
            # The new id goes on the row before the message exists: a second sweep sees it
            # and, finding it in the queue, leaves the job alone. Touching the heartbeat
            # gives the message `quiet_for` to be picked up before it could count as lost.
            job.task_id, job.heartbeat_at = task_id, timezone.now()
            job.log_tail = _tail(f"{job.log_tail}\nthe broker lost this job's message; sent again")
            job.save(update_fields=["task_id", "heartbeat_at", "log_tail"])
            transaction.on_commit(lambda job=job, route=route, task_id=task_id: _send_again(job, route, task_id))
        requeued.append(pk)
    return requeued


def _send_again(job: Job, route: dict, task_id: str) -> None:
    from scriptorium.celery import app

    app.send_task(route["task"], args=[job.pk, *route.get("args", [])], queue=route["queue"], task_id=task_id)
    log.warning("job %s: message lost by the broker, sent again as %s", job.pk, task_id)


def _task_ids_in_broker() -> set[str] | None:
    """Ids of the tasks waiting in any queue or delivered and not yet acknowledged, or None
    when the broker is not Redis (its contents cannot be listed)."""
    import json

    from scriptorium.celery import app
    from scriptorium.celery_config import QUEUES

    if app.conf.task_always_eager:
        return None
    with app.connection_for_read() as connection:
        if connection.transport.driver_type != "redis":
            return None
        channel = connection.default_channel
        client = channel.client
        ids: set[str] = set()
        for payload in client.hvals(channel.unacked_key):
            ids.add(_task_id_of(json.loads(payload)[0]))
        for queue in QUEUES:
            for priority in channel.priority_steps:
                for payload in client.lrange(channel._q_for_pri(queue, priority), 0, -1):
                    ids.add(_task_id_of(json.loads(payload)))
        return ids


def _task_id_of(message: dict) -> str:
    return (message.get("headers") or {}).get("id") or (message.get("properties") or {}).get("correlation_id") or ""


def run_job(job_id: int, body: Callable[["JobProgress"], None]) -> Job | None:
    """Run `body` for the job unless it already finished; count the attempt first."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job
        if job.cancel_requested:
            _finish(job, Job.Status.CANCELLED)
            return job
        if job.attempts >= job.max_attempts:
            job.log_tail = _tail(job.log_tail + f"\ngave up after {job.attempts} attempts")
            _finish(job, Job.Status.FAILED, error=(
                f"The worker stopped {job.attempts} times while running this job "
                "(killed, out of memory or restarted); it was not retried again."))
            return job
        job.attempts += 1
        job.status = Job.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["attempts", "status", "started_at", "heartbeat_at"])

    progress = JobProgress(job)
    try:
        body(progress)
    except JobCancelled:
        progress.flush()
        _finish(job, Job.Status.CANCELLED)
    except Exception as exc:  # noqa: BLE001 — every failure must land on the job row
        log.exception("job %s failed", job.pk)
        progress.log(traceback.format_exc(limit=8))
        progress.flush()
        _finish(job, Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        progress.flush()
        _finish(job, Job.Status.SUCCEEDED, progress=1.0)
    return job


def _finish(job: Job, status: str, *, error: str = "", progress: float | None = None) -> None:
    job.status = status
    job.finished_at = timezone.now()
    fields = ["status", "finished_at", "log_tail"]
    if error:
        job.error = error
        fields.append("error")
    if progress is not None:
        job.progress = progress
        fields.append("progress")
    job.save(update_fields=fields)


def _tail(text: str) -> str:
    return text[-LOG_TAIL_CHARS:].lstrip("\n")


class JobProgress:
    """What a job's body reports: progress, counters, log lines; it also answers whether
    the user asked to stop. Writes are throttled so a tight loop costs few queries."""

    def __init__(self, job: Job, *, min_interval: float = 0.5):
        self.job = job
        self.min_interval = min_interval
        self._last_write = 0.0
        self._dirty: set[str] = set()

    @property
    def params(self) -> dict:
        return self.job.params

    def update(self, *, progress: float | None = None, counters: dict | None = None, force: bool = False) -> None:
        if progress is not None:
            self.job.progress = max(0.0, min(1.0, progress))
            self._dirty.add("progress")
        if counters:
            self.job.counters = {**self.job.counters, **counters}
            self._dirty.add("counters")
        self._maybe_write(force)

    def add(self, **increments: int) -> None:
        counters = dict(self.job.counters)
        for key, value in increments.items():
            counters[key] = counters.get(key, 0) + value
        self.update(counters=counters)

    def log(self, line: str) -> None:
        self.job.log_tail = _tail(f"{self.job.log_tail}\n{line.rstrip()}")
        self._dirty.add("log_tail")
        self._maybe_write(False)

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    def cancel_requested(self) -> bool:
        return Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def flush(self) -> None:
        self._maybe_write(True)

    def _maybe_write(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval:
            return
        self.job.heartbeat_at = timezone.now()
        fields = sorted(self._dirty | {"heartbeat_at"})
        self.job.save(update_fields=fields)
        self._dirty.clear()
        self._last_write = now


def request_cancel(job: Job) -> None:
    Job.objects.filter(pk=job.pk).exclude(status__in=Job.TERMINAL).update(cancel_requested=True)
    # A job still waiting in the queue will see the flag when it starts and stop at once.
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(status=Job.Status.CANCELLED, finished_at=timezone.now())


def reset_for_retry(job: Job) -> None:
    """Used by the retry button: a failed job starts over with a fresh attempt budget."""
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.FAILED, Job.Status.CANCELLED]).update(
        status=Job.Status.QUEUED, attempts=0, error="", cancel_requested=False, finished_at=None, progress=0.0)


def run_with_progress(job_id: int, body: Callable[["JobProgress"], None], *, desc: str) -> Job:
    """Run a job in this process behind a terminal progress bar — what the CLIs and the
    demo do instead of queueing. The job runs in a thread; the bar reads its row."""
    import sys
    import threading

    if not sys.stderr.isatty():
        # No one to show a bar to (CI, a log, a test): run here, in this connection.
        run_job(job_id, body)
        return Job.objects.get(pk=job_id)
    worker = threading.Thread(target=_run_and_close, args=(job_id, body))
    worker.start()
    return _watch(job_id, desc, running=lambda job: worker.is_alive(), wait=lambda: worker.join(0.5))


def follow_job(job_id: int, *, desc: str, timeout: float | None = None) -> Job:
    """Wait for a job that a Celery worker runs, behind the same progress bar (a plain wait
    without a terminal). Raises TimeoutError if it has not finished within `timeout` s."""
    import sys

    deadline = None if timeout is None else time.monotonic() + timeout

    def running(job: Job) -> bool:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job #{job_id} ({desc.strip()}) still {job.status} after {timeout:.0f} s")
        return not job.is_finished

    if not sys.stderr.isatty():
        job = Job.objects.get(pk=job_id)
        while running(job):
            time.sleep(0.5)
            job.refresh_from_db()
        return job
    return _watch(job_id, desc, running=running, wait=lambda: time.sleep(0.5))


def _watch(job_id: int, desc: str, *, running: Callable[[Job], bool], wait: Callable[[], None]) -> Job:
    from tqdm import tqdm

    job = Job.objects.get(pk=job_id)
    with tqdm(total=100, desc=desc, unit="%", leave=True) as bar:
        while running(job):
            bar.n = int(job.progress * 100)
            shown = {k: v for k, v in job.counters.items() if isinstance(v, (int, float)) and k in _SHOWN}
            if shown:
                bar.set_postfix(shown, refresh=False)
            bar.refresh()
            wait()
            job.refresh_from_db()
        bar.n = int(job.progress * 100)
        bar.refresh()
    return job


_SHOWN = {"generated", "stored", "passed", "step", "loss", "done", "problems"}


def _run_and_close(job_id: int, body) -> None:
    from django.db import connection

    try:
        run_job(job_id, body)
    finally:
        connection.close()  # this thread's connection; SQLite and Postgres both want it closed
