"""Evaluation records: suites of held-out problems, runs of a checkpoint on a suite, and
every sample a run judged.

A suite's problems are stored (the `Problem` dataclass as JSON), so a run always says
exactly what it was measured on, even after the pack or the benchmark file changes; a
problem that leaves its suite is retired, never deleted, because old runs point at it.
"""
from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from curation.models import Job, Language
from training.models import Checkpoint


class Suite(models.Model):
    class Kind(models.TextChoices):
        CODE = "code"
        ERRFIX = "errfix"
        DOCQA = "docqa"

    class Restriction(models.TextChoices):
        HELD_OUT = "held_out", "Held out from training"
        LICENCE = "licence", "Licence forbids training on it"

    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="suites")
    name = models.CharField(max_length=100, help_text="Like lua-test or humaneval-lua")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=100, help_text="pack:test, pack:errfix, multipl-e:humaneval-lua …")
    variant = models.CharField(max_length=12, default="instruction", help_text="instruction or completion")
    description = models.CharField(max_length=300, blank=True)
    licence = models.CharField(max_length=100, blank=True)
    restriction = models.CharField(max_length=10, choices=Restriction.choices, default=Restriction.HELD_OUT)
    digest = models.CharField(max_length=64, blank=True, help_text="Digest of the active problems")
    auto = models.BooleanField(default=False, help_text="Evaluated automatically after every training job")
    default_n = models.PositiveIntegerField(default=1)
    default_temperature = models.FloatField(default=0.2)
    default_max_new_tokens = models.PositiveIntegerField(default=256)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["language", "name"]
        constraints = [models.UniqueConstraint(fields=["language", "name"], name="suite_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def headline(self) -> str:
        from evaluation.metrics import HEADLINE

        return f"{HEADLINE.get(self.kind, 'Pass')}@1"


class SuiteProblem(models.Model):
    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="problems")
    key = models.CharField(max_length=300, help_text="The problem's id, like lua/test/gray_code")
    position = models.PositiveIntegerField()
    category = models.CharField(max_length=100, blank=True)
    prompt = models.TextField()
    data = models.JSONField(help_text="The evaluation.suites.Problem, field by field")
    active = models.BooleanField(default=True, help_text="Off when the problem left its suite")

    class Meta:
        ordering = ["suite", "position"]
        constraints = [models.UniqueConstraint(fields=["suite", "key"], name="suiteproblem_unique_key")]

    def __str__(self) -> str:
        return self.key

    def as_problem(self):
        from evaluation.problems import problem_from_dict

        return problem_from_dict(self.data)


class EvalRun(models.Model):
    """One checkpoint on one suite with one set of settings. `mode` "assistant" runs the
    assistant (retrieval, few-shot, repair rounds) instead of plain generation; its
    `baseline` is the plain run it is measured against (the uplift)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        INVALID = "invalid", "Invalid (self-test failed)"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Mode(models.TextChoices):
        PLAIN = "plain", "Plain generation"
        ASSISTANT = "assistant", "Assistant (retrieval + repair)"

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="eval_runs")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="runs")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PLAIN)
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="uplift_runs")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_run")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, default="ui", help_text="ui, cli, api or auto")
    settings = models.JSONField(default=dict, blank=True,
                                help_text="n, temperature, stop tokens, prompt variant, toolchain versions …")
    self_test = models.JSONField(default=dict, blank=True)
    invalid_reason = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="evaluation.metrics.SuiteMetrics.to_dict()")
    clusters = models.JSONField(default=dict, blank=True, help_text="error types, constructs, categories")
    headline = models.FloatField(null=True, blank=True, help_text="Pass@1, FixRate@1 or DocGrounded@1")
    headline_low = models.FloatField(null=True, blank=True)
    headline_high = models.FloatField(null=True, blank=True)
    problem_count = models.PositiveIntegerField(default=0)
    sample_count = models.PositiveIntegerField(default=0)
    generation_seconds = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the whole run")
    created_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["suite", "mode", "status", "checkpoint"], name="evalrun_suite_mode")]

    def __str__(self) -> str:
        return f"{self.checkpoint} on {self.suite} ({self.mode}) #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def valid(self) -> bool | None:
        """None until the self-test has run."""
        if self.status == self.Status.INVALID:
            return False
        return True if self.self_test.get("ok") else None

    def metric(self, name: str) -> dict | None:
        return (self.metrics.get("metrics") or {}).get(name)


class EvalSample(models.Model):
    """One completion of one problem in one run, with what running it gave."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="samples")
    problem = models.ForeignKey(SuiteProblem, on_delete=models.PROTECT, related_name="samples")
    sample = models.PositiveIntegerField(help_text="0 … n-1")
    completion = models.TextField(help_text="What was run: cut at the stop tokens / first code block")
    verdict = models.CharField(max_length=16)
    passed = models.BooleanField()
    compiles = models.BooleanField(null=True)
    error_type = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    error_line = models.IntegerField(null=True, blank=True)
    stderr = models.TextField(blank=True)
    run_seconds = models.FloatField(default=0.0)
    seconds = models.FloatField(null=True, blank=True, help_text="Generation latency (a batch shares one figure)")
    tokens = models.PositiveIntegerField(null=True, blank=True)
    trace = models.JSONField(default=list, blank=True, help_text="Assistant runs: every round")

    class Meta:
        ordering = ["run", "problem__position", "sample"]
        constraints = [models.UniqueConstraint(fields=["run", "problem", "sample"], name="evalsample_once")]
        indexes = [models.Index(fields=["run", "passed"], name="evalsample_run_passed")]

    def __str__(self) -> str:
        return f"{self.problem_id}#{self.sample} {self.verdict}"

