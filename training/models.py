"""Training records: every checkpoint a job produced, and the points of its loss curve."""
from __future__ import annotations

from django.db import models

from curation.models import Dataset, Job, Language


class Checkpoint(models.Model):
    """A registered model output: a full model folder, or a base plus a LoRA adapter."""

    language = models.ForeignKey(Language, on_delete=models.PROTECT, related_name="checkpoints")
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=10, help_text="base, cpt, sft, dpo, grpo")
    base_model = models.CharField(max_length=500, help_text="Folder of the model it started from")
    path = models.CharField(max_length=500, help_text="Folder of this checkpoint (model or adapter)")
    adapter = models.CharField(max_length=10, blank=True, help_text="lora, qlora, or empty for a full model")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkpoints")
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkpoints")
    round = models.PositiveIntegerField(null=True, blank=True, help_text="Self-training round")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["path"], name="checkpoint_unique_path")]

    def __str__(self) -> str:
        return self.name


class TrainingPoint(models.Model):
    """One logged step of a training job, for the live loss curve."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="training_points")
    step = models.PositiveIntegerField()
    loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "step"]
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="trainingpoint_once_per_step")]


class SelfTrainingRound(models.Model):
    """One round of a self-training job: what the checkpoint that sampled it scored on the
    train tasks, what was stored, the dataset version frozen and the checkpoint trained.

    The row is written in the same transaction as the round's samples and pairs, so its
    existence means "sampled and stored": a redelivered job skips to the next phase.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="self_training_rounds")
    round = models.PositiveIntegerField()
    sampler = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The checkpoint that generated this round's candidates")
    sampler_path = models.CharField(max_length=500)
    problems = models.PositiveIntegerField(default=0)
    samples = models.PositiveIntegerField(default=0, help_text="Candidates generated (problems x k)")
    passed = models.PositiveIntegerField(default=0)
    pass_rate = models.FloatField(default=0.0, help_text="passed / samples")
    pass_at_1 = models.FloatField(default=0.0, help_text="Mean over problems of passing / sampled")
    pass_at_k = models.FloatField(default=0.0, help_text="Share of problems with a passing candidate")
    per_problem = models.JSONField(default=dict, blank=True, help_text="Task name -> pass rate")
    stored = models.PositiveIntegerField(default=0, help_text="New samples stored")
    duplicates = models.PositiveIntegerField(default=0, help_text="Passing programs the language already had")
    filtered = models.PositiveIntegerField(default=0, help_text="Passing programs dropped by the perplexity filter")
    pairs = models.PositiveIntegerField(default=0, help_text="New preference pairs stored")
    mix = models.JSONField(default=dict, blank=True, help_text="Mix weights the round's dataset was frozen with")
    source_pass_rates = models.JSONField(default=dict, blank=True, help_text="Pass rate per mix source")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="The checkpoint trained on the round's dataset")
    reverse_checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+")
    labelled = models.PositiveIntegerField(default=0, help_text="Back-translated samples stored")
    stop_reason = models.CharField(max_length=20, blank=True)
    finished = models.BooleanField(default=False)
    seconds = models.JSONField(default=dict, blank=True, help_text="Wall seconds per phase")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "round"]
        constraints = [models.UniqueConstraint(fields=["job", "round"], name="selftraininground_once_per_round")]

    def __str__(self) -> str:
        return f"round {self.round} of job #{self.job_id}"

    def summary(self) -> dict:
        """What job.counters["rounds"] and the chart carry."""
        return {"round": self.round, "problems": self.problems, "samples": self.samples, "passed": self.passed,
                "pass_rate": round(self.pass_rate, 4), "pass_at_1": round(self.pass_at_1, 4),
                "pass_at_k": round(self.pass_at_k, 4), "stored": self.stored, "duplicates": self.duplicates,
                "filtered": self.filtered, "pairs": self.pairs, "labelled": self.labelled,
                "dataset": self.dataset_id, "checkpoint": self.checkpoint_id, "stop_reason": self.stop_reason,
                "finished": self.finished}
