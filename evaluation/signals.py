"""Evaluate every checkpoint a training job registers, automatically.

Evaluation listens to training's Checkpoint rows; training never imports evaluation.
Only checkpoints that a job produced are evaluated (a base model registered by hand is
evaluated when someone asks), and EVALUATION_AUTO = False in settings turns it off.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from training.models import Checkpoint


@receiver(post_save, sender=Checkpoint, dispatch_uid="evaluation-auto-evaluate-checkpoint")
def evaluate_new_checkpoint(sender, instance: Checkpoint, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw or instance.job_id is None:
        return
    if not getattr(settings, "EVALUATION_AUTO", True):
        return
    from evaluation.actions import do_schedule_auto_evaluation

    do_schedule_auto_evaluation(instance)
