"""Celery settings chosen so that work is not lost (FACTS.md, "Celery").

- acks late + reject on worker lost: a worker killed mid-task leaves its message for
  another; `curation.jobs.run_job` counts attempts in the database because the broker
  does not, and fails the job after JOB_MAX_ATTEMPTS.
- prefetch 1: long jobs do not queue up behind each other on one worker.
- the visibility timeout exceeds the longest task, or Redis redelivers it in a loop.
- time limits sit above the sandbox's own wall clock.
"""
from django.conf import settings
from kombu import Queue

QUEUES = ("sandbox", "synthesis", "training", "eval")

broker_url = settings.CELERY_BROKER_URL or "memory://"
result_backend = None
task_ignore_result = True
task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
task_eager_propagates = settings.CELERY_TASK_EAGER_PROPAGATES
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
broker_connection_retry_on_startup = True
broker_transport_options = {"visibility_timeout": settings.TRAINING_TIME_LIMIT + 3600}
task_soft_time_limit = 30 * 60
task_time_limit = 35 * 60
task_queues = [Queue(name) for name in QUEUES]
task_default_queue = "synthesis"
task_serializer = "json"
accept_content = ["json"]
worker_hijack_root_logger = False
# Tasks are routed by their name's prefix; `curation.jobs.enqueue` also names the queue.
task_routes = {
    "curation.execute_samples": {"queue": "sandbox"},
    "curation.requeue_lost_jobs": {"queue": "sandbox"},
    "synthesis.*": {"queue": "synthesis"},
    "training.*": {"queue": "training"},
    "evaluation.*": {"queue": "eval"},
}
# `celery -A scriptorium beat` (docker-compose's scheduler) sweeps for jobs whose message
# a restarted broker lost; see curation.jobs.requeue_lost_jobs.
beat_schedule = {
    "requeue-lost-jobs": {"task": "curation.requeue_lost_jobs", "schedule": 300.0},
}
