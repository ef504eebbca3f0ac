"""The data model hub: languages and their packs, generated items, executions, reviews,
datasets and the jobs that do long work. Indexes follow the queries a table of a million
samples gets: the review queue (language, kind, status, id), browse filters, and
full-text search (a Postgres GIN index added in a migration)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q


class Language(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40, blank=True)
    extension = models.CharField(max_length=20)
    grammar = models.CharField(max_length=60)
    pack_path = models.CharField(max_length=500, help_text="Folder the pack was onboarded from")
    pack_hash = models.CharField(max_length=64, blank=True, help_text="Digest of the pack's files at the last onboarding")
    spec = models.JSONField(default=dict, help_text="language.toml as loaded")
    guidelines = models.TextField(blank=True)
    licence = models.CharField(max_length=60, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="languages",
                                     help_text="Reviewers who may work on this language")
    onboarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class DocSection(models.Model):
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="sections")
    anchor = models.CharField(max_length=40, help_text="Like §3.2")
    title = models.CharField(max_length=300)
    body = models.TextField()
    source_file = models.CharField(max_length=200)
    source_line = models.PositiveIntegerField(default=1)
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["language", "order"]
        constraints = [models.UniqueConstraint(fields=["language", "anchor"], name="docsection_unique_anchor")]

    def __str__(self) -> str:
        return f"{self.anchor} {self.title}"


class Example(models.Model):
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="examples")
    name = models.CharField(max_length=200)
    code = models.TextField()
    expected_output = models.TextField(blank=True)
    runnable = models.BooleanField(default=True)

    class Meta:
        ordering = ["language", "name"]
        constraints = [models.UniqueConstraint(fields=["language", "name"], name="example_unique_name")]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        DEV = "dev"
        TEST = "test"

    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=200)
    split = models.CharField(max_length=5, choices=Split.choices)
    category = models.CharField(max_length=60, blank=True)
    prompt = models.TextField()
    entry_point = models.CharField(max_length=100)
    tests = models.JSONField(help_text='Neutral form: [{"args": [...], "expected": ...}]')
    reference = models.TextField(blank=True)
    wrong = models.TextField(blank=True, help_text="A known-wrong solution that must fail the tests")
    source = models.CharField(max_length=60, default="pack", help_text="pack, or the suite it was imported from")

    class Meta:
        ordering = ["language", "split", "name"]
        constraints = [models.UniqueConstraint(fields=["language", "source", "name"], name="task_unique_name")]
        indexes = [models.Index(fields=["language", "split"], name="task_language_split")]

    def __str__(self) -> str:
        return f"{self.name} ({self.split})"


class Job(models.Model):
    """Long work: its status, progress and log, polled by the UI. Attempts are counted here
    because the broker does not count redeliveries (FACTS.md)."""

    class Kind(models.TextChoices):
        ONBOARD = "onboard"
        SYNTHESIS = "synthesis"
        EXECUTION = "execution"
        TRIAGE = "triage"
        EXPORT = "export"
        TRAINING = "training"
        EVALUATION = "evaluation"
        SELF_TRAINING = "self_training"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    language = models.ForeignKey(Language, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0, help_text="0..1")
    counters = models.JSONField(default=dict, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    task_id = models.CharField(max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "status"], name="job_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Awaiting review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    AUTO_REJECTED = "auto_rejected", "Rejected by triage"
    DISPUTED = "disputed", "Reviewers disagree"


class Execution(models.Model):
    """One run of one program in the sandbox. Output is stored as the sandbox returns it:
    capped, NUL-free text (escaped when rendered)."""

    class Verdict(models.TextChoices):
        OK = "ok"
        SYNTAX_ERROR = "syntax_error"
        RUNTIME_ERROR = "runtime_error"
        TEST_FAILED = "test_failed"
        TIMEOUT = "timeout"
        MEMORY_LIMIT = "memory_limit"
        OUTPUT_LIMIT = "output_limit"
        SANDBOX_ERROR = "sandbox_error"

    sample = models.ForeignKey("Sample", null=True, blank=True, on_delete=models.CASCADE, related_name="executions")
    code_hash = models.CharField(max_length=64, help_text="Digest of the program and tests that ran")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    stdout_truncated = models.BooleanField(default=False)
    stderr_truncated = models.BooleanField(default=False)
    duration = models.FloatField(default=0.0, help_text="Wall seconds")
    cpu_seconds = models.FloatField(default=0.0)
    peak_memory_kb = models.PositiveIntegerField(default=0)
    error_line = models.PositiveIntegerField(null=True, blank=True)
    error_column = models.PositiveIntegerField(null=True, blank=True)
    error_type = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A redelivered chunk writes nothing twice.
            models.UniqueConstraint(fields=["sample", "code_hash"], name="execution_once_per_program"),
        ]
        indexes = [
            models.Index(fields=["verdict"], name="execution_verdict"),
            # Browse filters by error type: a semi-join from here to the samples.
            models.Index(fields=["error_type", "sample"], name="execution_error_type", condition=~Q(error_type="")),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} ({self.duration:.2f}s)"


class Generated(models.Model):
    """What every generated item carries — sample, DPO pair, doc-QA item: its provenance,
    its exact-duplicate key (unique per language) and its place in review."""

    metadata = models.JSONField(default=dict, blank=True)
    generator = models.CharField(max_length=60)
    seed = models.BigIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    licence = models.CharField(max_length=60, blank=True)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    claims = models.PositiveSmallIntegerField(default=0, db_default=0,
                                              help_text="Reviewers holding or having decided it (see Assignment)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Sample(Generated):
    class Kind(models.TextChoices):
        SYNTAX = "syntax"
        NEGATIVE = "negative"
        SEMANTIC = "semantic"
        AUGMENT = "augment"
        TRANSPILE = "transpile"
        SELF_INSTRUCT = "self_instruct"
        BACKTRANSLATE = "backtranslate"
        ERRFIX = "errfix"
        DOCQA = "docqa"

    # The foreign keys carry no index of their own (db_index=False): every index below
    # starts with the language, and task, parent and job get partial indexes (Meta). A
    # decision rewrites the whole row, so each index here costs every review its insert.
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="samples", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    prompt = models.TextField(blank=True)
    code = models.TextField()
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples",
                             db_index=False)
    # Provenance.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               db_index=False)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples",
                            db_index=False)
    content_hash = models.CharField(max_length=64, help_text="Digest of the normalised prompt and code")
    # The latest execution's verdict, kept here so the queue filters without a join.
    verdict = models.CharField(max_length=16, choices=Execution.Verdict.choices, blank=True)
    triage_reason = models.CharField(max_length=200, blank=True)
    quality = models.FloatField(null=True, blank=True, help_text="Perplexity or model uncertainty, for ordering")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["language", "content_hash"], name="sample_unique_content")]
        # Measured on a million rows: a decision rewrites the row (status is indexed, so the
        # update is never HOT) and every index takes a new entry — a bulk accept of 100,000
        # wrote 2.4 million WAL records through 12 indexes. Status-dependent indexes are
        # therefore partial: the queue holds only waiting items, "decided" only the rest, so
        # an accept enters one, never both; nulls of the optional foreign keys are not
        # indexed at all. Full-text search lives beside the table (SampleSearch), so a
        # decision does not also write the row's words into a GIN index.
        indexes = [
            models.Index(fields=["language", "kind", "id"], condition=Q(status="pending"), name="sample_queue_pending"),
            models.Index(fields=["language", "status", "created_at", "id"], condition=~Q(status="pending"),
                         name="sample_decided"),
            models.Index(fields=["task"], condition=Q(task__isnull=False), name="sample_task"),
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="sample_parent"),
            models.Index(fields=["job"], condition=Q(job__isnull=False), name="sample_job"),
            models.Index(fields=["language", "generator"], name="sample_generator"),
            models.Index(fields=["language", "verdict"], name="sample_verdict"),
            # Browse: newest first (keyset on created_at, id) and its date filters; without
            # it "before two months ago" walks every newer row first.
            models.Index(fields=["language", "created_at", "id"], name="sample_created"),
            # The queue ordered by model uncertainty / perplexity; partial, so it only holds
            # what is still waiting (a backward scan serves "lowest first").
            models.Index(F("language"), F("kind"), F("quality").desc(), F("id"),
                         condition=Q(status="pending"), name="sample_queue_score"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def is_reviewable(self) -> bool:
        return self.status in (ReviewStatus.PENDING, ReviewStatus.DISPUTED)


class SampleSearch(models.Model):
    """A sample's words for the browse search (Postgres only; empty on SQLite, which
    searches with LIKE): to_tsvector of prompt and code, GIN-indexed.

    A side table, not a column of Sample, because a decision rewrites the sample's row
    (status is indexed, so no update is HOT) and every index takes a new entry: a column
    made each decision copy the vector into the new row and put every word of it into the
    GIN index again. Measured on a million rows, the UPDATE of a bulk accept of 100,000
    took 13.4 s with the column and 7.2 s without (the SQL alone, one after the other). Postgres keeps this table (migration 0009): a trigger
    fills it on insert (COPY, bulk_create) and another refreshes a row when its sample's
    prompt or code change, so nothing in Python writes it."""

    sample = models.OneToOneField(Sample, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # The sample's, copied: a search walks the newest hits first in windows of browse order
    # (curation.review), and the window is best cut here, before any sample row is read.
    created_at = models.DateTimeField()
    search = SearchVectorField()

    class Meta:
        verbose_name_plural = "sample searches"
        indexes = [models.Index(fields=["created_at", "sample"], name="samplesearch_created")]


class PreferencePair(Generated):
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.TextField()
    chosen = models.TextField()
    rejected = models.TextField()
    chosen_execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rejected_execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["language", "content_hash"], name="pair_unique_content")]
        indexes = [models.Index(fields=["language", "status", "id"], name="pair_queue")]

    def __str__(self) -> str:
        return f"pair #{self.pk}"


class DocQAItem(Generated):
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="docqa_items")
    question = models.TextField()
    answer = models.TextField()
    cited_anchors = models.JSONField(default=list, help_text='Like ["§3.2"]')
    example_code = models.TextField(blank=True)
    example_execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="docqa_items")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["language", "content_hash"], name="docqa_unique_content")]
        indexes = [models.Index(fields=["language", "status", "id"], name="docqa_queue")]

    def __str__(self) -> str:
        return self.question[:80]


class Review(models.Model):
    """One reviewer's decision on one item; the audit trail is these rows."""

    class Decision(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"
        SKIP = "skip"
        EDIT = "edit"
        UNDO = "undo"
        SWAP = "swap"

    # Append-only and written 100,000 at a time by a bulk action: the optional foreign keys
    # are indexed only where set (partial indexes in Meta), the reviewer by
    # review_reviewer_created. The reviewer and the bulk action carry no database
    # constraint: a bulk action's 100,000 rows all name one user and one BulkAction, both
    # written moments before in the same transaction, and Postgres checks a constraint row
    # by row (the reviewer's alone: 0.9 s of CPU for 100,000 rows, measured at 1M samples).
    # Django still applies on_delete (PROTECT, SET_NULL) when either is deleted; the item's
    # foreign key keeps its constraint.
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews")
    pair = models.ForeignKey(PreferencePair, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews",
                             db_index=False)
    docqa = models.ForeignKey(DocQAItem, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews",
                              db_index=False)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews",
                                 db_index=False, db_constraint=False)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=100, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    edited_code = models.TextField(blank=True, help_text="The edited revision, kept beside the original")
    edited_execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                         db_index=False)
    # A DPO pair's revision is both programs (edited_code is the chosen one); a doc-QA item's
    # is its example program (edited_code) and its answer. Database defaults, so the raw
    # INSERTs of the hot decision path and of bulk actions need not name these columns; no
    # database constraint on the execution, so a bulk action's 100,000 rows do not each
    # queue one more foreign-key check (Django still applies SET_NULL).
    edited_rejected = models.TextField(blank=True, default="", db_default="",
                                       help_text="A DPO pair's edited rejected program")
    edited_rejected_execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL,
                                                  related_name="+", db_index=False, db_constraint=False)
    edited_answer = models.TextField(blank=True, default="", db_default="", help_text="A doc-QA item's edited answer")
    comment = models.TextField(blank=True)
    seconds_spent = models.FloatField(default=0.0)
    bulk = models.BooleanField(default=False, help_text="Part of a bulk action over a filter")
    bulk_action = models.ForeignKey("BulkAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews",
                                    db_index=False, db_constraint=False)
    adjudication = models.BooleanField(default=False, db_default=False, help_text="The final word on a disputed item")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(sample__isnull=False, pair__isnull=True, docqa__isnull=True)
                    | Q(sample__isnull=True, pair__isnull=False, docqa__isnull=True)
                    | Q(sample__isnull=True, pair__isnull=True, docqa__isnull=False)
                ),
                name="review_exactly_one_item",
            )
        ]
        indexes = [
            models.Index(fields=["reviewer", "created_at"], name="review_reviewer_created"),
            models.Index(fields=["pair"], condition=Q(pair__isnull=False), name="review_pair"),
            models.Index(fields=["docqa"], condition=Q(docqa__isnull=False), name="review_docqa"),
            models.Index(fields=["edited_execution"], condition=Q(edited_execution__isnull=False),
                         name="review_edited_execution"),
            models.Index(fields=["edited_rejected_execution"], condition=Q(edited_rejected_execution__isnull=False),
                         name="review_edited_rejected_run"),
            models.Index(fields=["bulk_action"], condition=Q(bulk_action__isnull=False), name="review_bulk_action"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.reviewer_id}"


class Dataset(models.Model):
    """A frozen, versioned snapshot of accepted items. Never edited after freezing."""

    language = models.ForeignKey(Language, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    filter = models.JSONField(default=dict, blank=True)
    mix_weights = models.JSONField(default=dict, blank=True)
    card = models.JSONField(default=dict, blank=True, help_text="Counts, tokens, licences, decontamination report")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    frozen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["language", "name", "-version"]
        constraints = [models.UniqueConstraint(fields=["language", "name", "version"], name="dataset_unique_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DatasetItem(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        DEV = "dev"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pair = models.ForeignKey(PreferencePair, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    docqa = models.ForeignKey(DocQAItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    weight = models.FloatField(default=1.0)

    class Meta:
        indexes = [models.Index(fields=["dataset", "split"], name="datasetitem_split")]


# ---------------------------------------------------------------- review workflow

def default_reject_reasons() -> list[str]:
    return ["Does not run", "Wrong output or fails its tests", "Prompt and code disagree", "Unidiomatic or low quality",
            "Trivial or near-duplicate", "Unsafe, secret or licence problem", "Other (see comment)"]


class ReviewQueue(models.Model):
    """How one queue — a language and an item kind — hands items out. A queue without a row
    uses the defaults (one reviewer per item, oldest first)."""

    class Order(models.TextChoices):
        OLDEST = "oldest", "Oldest first"
        SCORE_HIGH = "score_high", "Highest uncertainty / perplexity first"
        SCORE_LOW = "score_low", "Lowest uncertainty / perplexity first"

    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="review_queues")
    kind = models.CharField(max_length=16, help_text="A Sample kind, or 'pairs' / 'qa'")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Reviewers who decide each item")
    order = models.CharField(max_length=12, choices=Order.choices, default=Order.OLDEST)
    lease_minutes = models.PositiveIntegerField(default=30, help_text="An untouched item returns to the pool after this")
    reject_reasons = models.JSONField(default=default_reject_reasons, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["language", "kind"], name="reviewqueue_unique_kind"),
            models.CheckConstraint(condition=Q(overlap__gte=1, overlap__lte=10), name="reviewqueue_overlap_range"),
        ]

    def __str__(self) -> str:
        return f"{self.language} · {self.kind}"


class Assignment(models.Model):
    """One reviewer's hold on one item: handed out (open), then decided (done) or skipped.
    The item's `claims` counts its open and done assignments, so handing out can test a
    column of the locked row (SELECT … FOR UPDATE SKIP LOCKED) instead of a subquery that
    a concurrent transaction's insert would not show. Agreement figures are computed from
    the decisions kept here; the Review rows stay the append-only audit trail."""

    class State(models.TextChoices):
        OPEN = "open"
        DONE = "done"
        SKIPPED = "skipped"
        WITHDRAWN = "withdrawn", "Decided elsewhere"

    # One insert per hand-out and one update per decision: the foreign keys are served by
    # the composite indexes and unique constraints below (each starts with its column)
    # instead of an index apiece; review and edit get partial ones.
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="+", db_index=False)
    queue = models.CharField(max_length=16)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments",
                                 db_index=False)
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments",
                               db_index=False)
    pair = models.ForeignKey(PreferencePair, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments",
                             db_index=False)
    docqa = models.ForeignKey(DocQAItem, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments",
                              db_index=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    decision = models.CharField(max_length=8, blank=True, help_text="accept or reject once done")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    assigned_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    review = models.ForeignKey("Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               db_index=False)
    edit = models.ForeignKey("Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             db_index=False, help_text="The reviewer's latest edit, accepted with the item")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(sample__isnull=False, pair__isnull=True, docqa__isnull=True)
                    | Q(sample__isnull=True, pair__isnull=False, docqa__isnull=True)
                    | Q(sample__isnull=True, pair__isnull=True, docqa__isnull=False)
                ),
                name="assignment_exactly_one_item",
            ),
            models.UniqueConstraint(fields=["sample", "reviewer"], condition=Q(sample__isnull=False),
                                    name="assignment_once_per_sample"),
            models.UniqueConstraint(fields=["pair", "reviewer"], condition=Q(pair__isnull=False),
                                    name="assignment_once_per_pair"),
            models.UniqueConstraint(fields=["docqa", "reviewer"], condition=Q(docqa__isnull=False),
                                    name="assignment_once_per_docqa"),
        ]
        indexes = [
            models.Index(fields=["reviewer", "language", "queue", "state"], name="assignment_mine"),
            # "My last decision here" (undo) and "done by me today", newest first.
            models.Index(fields=["reviewer", "language", "queue", "decided_at"], name="assignment_my_decisions"),
            models.Index(fields=["language", "queue", "state", "decided_at"], name="assignment_queue_state"),
            models.Index(fields=["assigned_at"], condition=Q(state="open"), name="assignment_open_lease"),
            models.Index(fields=["review"], condition=Q(review__isnull=False), name="assignment_review"),
            models.Index(fields=["edit"], condition=Q(edit__isnull=False), name="assignment_edit"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} #{self.item_id} → {self.reviewer_id} ({self.state})"

    @property
    def item(self):
        return self.sample or self.pair or self.docqa

    @property
    def item_id(self) -> int | None:
        return self.sample_id or self.pair_id or self.docqa_id


class BulkAction(models.Model):
    """A decision applied to every item a browse filter matched, confirmed first; each item
    also gets its own Review row (bulk=True) pointing here."""

    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="bulk_actions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8)
    reason = models.CharField(max_length=100, blank=True)
    filters = models.JSONField(default=dict, help_text="The browse filter, as submitted")
    matched = models.PositiveIntegerField(default=0, help_text="Items the confirmation page showed")
    changed = models.PositiveIntegerField(default=0, help_text="Items that were awaiting review and changed")
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"bulk {self.decision} of {self.changed} by {self.decided_by_id}"


class ApiToken(models.Model):
    """A bearer token for the JSON API (`Authorization: Bearer scr_…`), for scripts and CI
    that cannot hold a browser session. Only its SHA-256 digest is stored; the token is
    shown once, when it is made. It acts as its user, with the user's role, on /api/ paths
    only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
