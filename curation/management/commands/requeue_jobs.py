"""manage.py requeue_jobs [--quiet-for 600]

Sends again the queued or running jobs whose message the broker lost (a Redis restarted
without persistence forgets its queues). Safe to run from cron: a job whose message is
still queued or being worked on is left alone. See curation.jobs.requeue_lost_jobs."""
from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from curation.jobs import requeue_lost_jobs


class Command(BaseCommand):
    help = "Send again the queued or running jobs whose broker message was lost."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-for", type=float, default=600.0, metavar="SECONDS",
                            help="Only jobs with no heartbeat for this long (default 600 s; above the "
                                 "longest gap between two progress writes of any job)")

    def handle(self, *args, quiet_for, **options):
        requeued = requeue_lost_jobs(quiet_for=timedelta(seconds=quiet_for))
        if requeued:
            self.stdout.write(f"sent again: {', '.join(f'job {pk}' for pk in requeued)}")
        else:
            self.stdout.write("no lost jobs")
