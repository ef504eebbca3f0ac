"""The Celery app. Its configuration lives in `scriptorium.celery_config`, read lazily
when Celery first needs it, so importing the app never forces Django's settings early."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scriptorium.settings")

app = Celery("scriptorium")
app.config_from_object("scriptorium.celery_config")
app.autodiscover_tasks(["curation", "synthesis", "training", "evaluation"])
