"""The review queue's core: which item a reviewer gets next, how decisions resolve an item,
what can be undone, and the reads the review pages share (capped counts, browse filters,
side-by-side diffs, citations).

Handing out (`next_item_for`) is one SQL statement on Postgres: pick the first waiting
item whose `claims` is below the queue's overlap with `FOR UPDATE SKIP LOCKED`, bump its
`claims` and insert the Assignment. The overlap test is on a column of the locked row, not
a subquery: a concurrent hand-out that committed first has updated that row, so Postgres
re-checks `claims < overlap` on the new version and moves on; a subquery would still see
the old snapshot and hand the item out twice. Elsewhere (SQLite, the embedded default,
whose writers are serialised anyway) a compare-and-swap UPDATE does the same job.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from curation.models import (Assignment, DocQAItem, Execution, Language, PreferencePair, Review, ReviewQueue,
                             ReviewStatus, Sample)
from curation.packs import CITATION, cited_anchors  # noqa: F401 (cited_anchors is read from here too)

PAIRS, QA = "pairs", "qa"
ACCEPT, REJECT, SKIP = Review.Decision.ACCEPT, Review.Decision.REJECT, Review.Decision.SKIP
DECISIONS = (ACCEPT, REJECT)
# A count past this is shown as "10,000+": counting a million rows per page view costs
# more than the exact number is worth.
COUNT_CAP = 10_000
# An idle tab is not work: time spent on one item is capped at this.
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class QueueKind:
    key: str
    label: str
    model: type
    field: str  # the Assignment / Review column naming the item: sample, pair or docqa

    @property
    def is_sample(self) -> bool:
        return self.model is Sample

    @property
    def column(self) -> str:
        return f"{self.field}_id"


_SAMPLE_LABELS = {"self_instruct": "Self-instruct", "errfix": "Error → fix", "docqa": "Doc-QA samples",
                  "backtranslate": "Back-translation", "transpile": "Transpiled"}
QUEUE_KINDS: dict[str, QueueKind] = {
    **{kind: QueueKind(kind, _SAMPLE_LABELS.get(kind, label), Sample, "sample") for kind, label in Sample.Kind.choices},
    PAIRS: QueueKind(PAIRS, "DPO pairs", PreferencePair, "pair"),
    QA: QueueKind(QA, "Doc-QA items", DocQAItem, "docqa"),
}


def queue_kind(key: str) -> QueueKind:
    """The queue named `key`; KeyError for anything else (views turn it into a 404)."""
    return QUEUE_KINDS[key]


def queue_config(language: Language, kind: str) -> ReviewQueue:
    """The queue's settings; an unsaved default when nobody has configured it."""
    return ReviewQueue.objects.filter(language=language, kind=kind).first() or ReviewQueue(language=language, kind=kind)


def queue_items(language: Language, kind: QueueKind) -> QuerySet:
    qs = kind.model.objects.filter(language=language)
    return qs.filter(kind=kind.key) if kind.is_sample else qs


def model_from_row(model: type, fields, values):
    """A model instance from a raw row of `fields`' columns, converted as the ORM converts
    them (JSON arrives as text)."""
    values = [f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
              for f, v in zip(fields, values)]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


@dataclass
class Desk:
    """What every review request reads before it does anything, fetched in one round trip:
    the language (None when there is no such language), whether the user is one of its
    reviewers, the user's groups (their role), the queue's settings, the user's hold on the
    item a request names, and whether the user holds any other open item of the queue."""
    language: Language | None
    member: bool
    groups: list[tuple[int, str]]
    config: ReviewQueue | None
    held: Assignment | None
    holds_other: bool


def review_desk(user, slug: str, qk: QueueKind, *, item_id: int | None = None) -> Desk:
    """The Desk for `user` working on queue `qk` of the language `slug` (and item `item_id`).

    One statement where the session-to-item path took five (the user's groups, the
    language, the queue's settings, the hold, the probe for other holds): at a decision
    every few seconds per reviewer, each round trip cost more CPU than the query itself."""
    from django.contrib.auth import get_user_model

    language_fields = Language._meta.concrete_fields
    queue_fields = ReviewQueue._meta.concrete_fields
    members = Language._meta.get_field("members")
    user_groups = get_user_model()._meta.get_field("groups")
    group_table = user_groups.related_model._meta.db_table
    held_sql = (f"LEFT JOIN curation_assignment a ON a.reviewer_id = %(user)s AND a.language_id = l.id "
                f"AND a.queue = %(queue)s AND a.{qk.column} = %(item)s") if item_id is not None else \
        "LEFT JOIN curation_assignment a ON false"
    other_sql = f"AND o.{qk.column} <> %(item)s" if item_id is not None else ""
    quote = connection.ops.quote_name
    sql = f"""
        SELECT {", ".join(f"l.{quote(f.column)}" for f in language_fields)},
               {", ".join(f"q.{quote(f.column)}" for f in queue_fields)},
               a.id, a.state, a.edit_id, a.assigned_at,
               l.id IS NOT NULL AND EXISTS (
                   SELECT 1 FROM {members.m2m_db_table()} m
                   WHERE m.{members.m2m_column_name()} = l.id AND m.{members.m2m_reverse_name()} = %(user)s),
               l.id IS NOT NULL AND EXISTS (
                   SELECT 1 FROM curation_assignment o
                   WHERE o.reviewer_id = %(user)s AND o.language_id = l.id AND o.queue = %(queue)s
                     AND o.state = %(open)s {other_sql}),
               ARRAY(SELECT g.id FROM {group_table} g JOIN {user_groups.m2m_db_table()} ug
                     ON ug.{user_groups.m2m_reverse_name()} = g.id
                     WHERE ug.{user_groups.m2m_column_name()} = %(user)s ORDER BY g.id),
               ARRAY(SELECT g.name FROM {group_table} g JOIN {user_groups.m2m_db_table()} ug
                     ON ug.{user_groups.m2m_reverse_name()} = g.id
                     WHERE ug.{user_groups.m2m_column_name()} = %(user)s ORDER BY g.id)
        FROM (SELECT 1) one
        LEFT JOIN curation_language l ON l.slug = %(slug)s
        LEFT JOIN curation_reviewqueue q ON q.language_id = l.id AND q.kind = %(queue)s
        {held_sql}"""
    params = {"user": user.pk, "slug": slug, "queue": qk.key, "item": item_id, "open": Assignment.State.OPEN}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    n_language, n_queue = len(language_fields), len(queue_fields)
    language_row, row = row[:n_language], row[n_language:]
    queue_row, row = row[:n_queue], row[n_queue:]
    held_pk, state, edit_id, assigned_at, member, holds_other, group_ids, group_names = row
    if language_row[0] is None:
        return Desk(None, False, list(zip(group_ids, group_names)), None, None, False)
    language = model_from_row(Language, language_fields, language_row)
    config = model_from_row(ReviewQueue, queue_fields, queue_row) if queue_row[0] is not None else \
        ReviewQueue(language=language, kind=qk.key)
    held = None
    if held_pk is not None:
        held = Assignment(pk=held_pk, reviewer=user, language=language, queue=qk.key, state=state, edit_id=edit_id,
                          assigned_at=assigned_at, **{qk.column: item_id})
        held._state.adding, held._state.db = False, connection.alias
    return Desk(language, bool(member), list(zip(group_ids, group_names)), config, held, bool(holds_other))


# ---------------------------------------------------------------- handing out

def next_item_for(reviewer, language: Language, kind: str, *, config: ReviewQueue | None = None,
                  holds: bool | None = None) -> Assignment | None:
    """The item this reviewer should look at now: the one they already hold in this queue
    (a reload, an undo) or a newly claimed one; None when the queue has nothing for them.
    `holds`: whether the reviewer holds any open item of the queue, when the caller knows
    (a Desk read it); None looks."""
    qk = queue_kind(kind)
    if holds is not False:
        held = open_assignment(reviewer, language, qk, probe=holds is None)
        if held is not None:
            return held
    config = config or queue_config(language, kind)
    claimed = claim(reviewer, language, qk, config)
    if claimed is None and release_stale(language, qk, config.lease_minutes):
        claimed = claim(reviewer, language, qk, config)
    if claimed is None:
        return None
    # Built from what the claim returned (on Postgres the item's row too): no second look at
    # the rows just written.
    assignment = Assignment(pk=claimed.assignment_id, reviewer=reviewer, language=language, queue=qk.key,
                            state=Assignment.State.OPEN, assigned_at=timezone.now())
    assignment._state.adding, assignment._state.db = False, connection.alias
    item = claimed.item
    if item is None:
        item = qk.model.objects.get(pk=claimed.item_id)
    setattr(assignment, qk.field, item)
    if claimed.execution is not UNKNOWN:
        assignment.latest_execution = claimed.execution
    assignment.fresh = True  # nothing of this reviewer's on it yet (no edit, no history)
    return assignment


def open_assignment(reviewer, language: Language, qk: QueueKind, *, probe: bool = True) -> Assignment | None:
    """The reviewer's most recent open hold in this queue whose item still waits; holds on
    items decided elsewhere meanwhile (bulk, adjudication) are withdrawn on the way.
    `probe=False`: the caller knows there is a hold; skip the cheap look for one."""
    mine = Assignment.objects.filter(reviewer=reviewer, language=language, queue=qk.key, state=Assignment.State.OPEN)
    if probe:
        # Right after a decision there is usually none: find that out cheaply (plain SQL, no join).
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM curation_assignment WHERE reviewer_id = %s AND language_id = %s "
                           "AND queue = %s AND state = %s LIMIT 1",
                           [reviewer.pk, language.pk, qk.key, Assignment.State.OPEN])
            if cursor.fetchone() is None:
                return None
    if connection.vendor != "postgresql":
        for assignment in _with_item(mine, qk).order_by("-assigned_at")[:10]:
            if assignment.item.status == ReviewStatus.PENDING:
                return assignment
            withdraw(assignment)
        return None
    # The holds, their items and (for samples) each item's latest run in one statement: the
    # ORM's compiling of the two queries cost more than running them.
    quote = connection.ops.quote_name
    held_fields = Assignment._meta.concrete_fields
    item_fields = qk.model._meta.concrete_fields
    run_fields = Execution._meta.concrete_fields if qk.is_sample else ()
    run_sql = (f", run.* FROM curation_assignment a JOIN {qk.model._meta.db_table} t ON t.id = a.{qk.column} "
               f"LEFT JOIN LATERAL (SELECT {', '.join(f'e.{quote(f.column)}' for f in run_fields)} "
               f"FROM curation_execution e WHERE e.sample_id = t.id ORDER BY e.created_at DESC LIMIT 1) run ON true"
               if qk.is_sample else f" FROM curation_assignment a JOIN {qk.model._meta.db_table} t ON t.id = a.{qk.column}")
    sql = (f"SELECT {', '.join(f'a.{quote(f.column)}' for f in held_fields)}, "
           f"{', '.join(f't.{quote(f.column)}' for f in item_fields)}{run_sql} "
           "WHERE a.reviewer_id = %s AND a.language_id = %s AND a.queue = %s AND a.state = %s "
           "ORDER BY a.assigned_at DESC LIMIT 10")
    with connection.cursor() as cursor:
        cursor.execute(sql, [reviewer.pk, language.pk, qk.key, Assignment.State.OPEN])
        rows = cursor.fetchall()
    n_held, n_item = len(held_fields), len(item_fields)
    for row in rows:
        assignment = model_from_row(Assignment, held_fields, row[:n_held])
        item = model_from_row(qk.model, item_fields, row[n_held:n_held + n_item])
        setattr(assignment, qk.field, item)
        if item.status != ReviewStatus.PENDING:
            withdraw(assignment)
            continue
        if qk.is_sample:
            run = row[n_held + n_item:]
            assignment.latest_execution = model_from_row(Execution, run_fields, run) if run[0] is not None else None
        return assignment
    return None


def withdraw(assignment: Assignment) -> None:
    with transaction.atomic():
        if Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
                state=Assignment.State.WITHDRAWN, decided_at=timezone.now()):
            release_claim(assignment)


def release_claim(assignment: Assignment) -> None:
    model = type(assignment.item)
    model.objects.filter(pk=assignment.item_id, claims__gt=0).update(claims=F("claims") - 1)


def _with_item(qs: QuerySet, qk: QueueKind) -> QuerySet:
    # The item only: a task, an edit or an execution is fetched when there is one (rare),
    # and every extra join costs planning time on the hottest query of the app.
    return qs.select_related(qk.field)


UNKNOWN = object()  # an execution the hand-out did not read


class Claim(NamedTuple):
    assignment_id: int
    item_id: int
    item: object | None  # the item's row as the hand-out left it, when the database returned it
    execution: object = UNKNOWN  # a sample's latest Execution (or None), when the hand-out read it


def claim(reviewer, language: Language, qk: QueueKind, config: ReviewQueue, *,
          item_id: int | None = None) -> Claim | None:
    """Hand one waiting item of the queue to the reviewer (or that very item, when
    `item_id` is given and it is still free); returns (the new Assignment's id, the item's
    id, the item or None) or None."""
    orders = [config.order, ReviewQueue.Order.OLDEST] if qk.is_sample and config.order != ReviewQueue.Order.OLDEST \
        else [ReviewQueue.Order.OLDEST]
    for order in orders:
        for _attempt in range(3):
            try:
                if connection.vendor == "postgresql" and not connection.in_atomic_block:
                    # One statement is its own transaction (see _claim_skip_locked).
                    found = _claim_skip_locked(reviewer, language, qk, config.overlap, order, item_id)
                    break
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        found = _claim_skip_locked(reviewer, language, qk, config.overlap, order, item_id)
                    else:
                        found = _claim_compare_and_swap(reviewer, language, qk, config.overlap, order, item_id)
                        found = found and Claim(*found, None)
                break
            except IntegrityError:
                # The same reviewer claimed the same item from another tab in the same
                # instant; the unique constraint refused the second hold. Try again.
                continue
        else:
            found = None
        if found is not None:
            return found
    return None


_ORDER_SQL = {
    # Samples: (kind, id) is the order of the partial index sample_queue_pending (language,
    # kind, id) WHERE status = 'pending'; see KIND_RANGE_SQL.
    ReviewQueue.Order.OLDEST: ("", "t.id"),
    # These two match the partial index sample_queue_score (quality DESC, id), forwards and
    # backwards; unscored items wait for the oldest-first pass.
    ReviewQueue.Order.SCORE_HIGH: ("AND t.quality IS NOT NULL", "t.quality DESC, t.id"),
    ReviewQueue.Order.SCORE_LOW: ("AND t.quality IS NOT NULL", "t.quality ASC, t.id DESC"),
}
# The kind as a range of one value, on purpose. Written `kind = %s`, Postgres drops kind from
# the ORDER BY (it is a constant) and, assuming a queue's items are spread evenly over the
# table, walks the primary key from id 1 filtering for the kind: generators write in runs,
# so on a million samples it read 12,000 rows (16-43 ms) to find the first waiting item of
# a queue whose run starts late, and more with every item decided. As a range, the kind
# stays in the ORDER BY, which only the queue's partial index provides: ~0.2 ms, the same
# for every queue and every depth of progress.
KIND_RANGE_SQL = "AND {alias}kind >= %({name})s AND {alias}kind <= %({name})s"
_CLAIM_HEAD = "SET LOCAL synchronous_commit TO OFF;\n"


def claim_candidate_sql(qk: QueueKind, order: str, *, one_item: bool = False) -> str:
    """The SELECT … FOR UPDATE SKIP LOCKED that picks the item to hand out (named
    parameters: language, kind, pending, overlap, reviewer, item); bench/review.py EXPLAINs it."""
    table = qk.model._meta.db_table
    where, order_by = _ORDER_SQL[order]
    kind_sql = KIND_RANGE_SQL.format(alias="t.", name="kind") if qk.is_sample else ""
    if qk.is_sample:  # the kind leads every queue index, in the scan's direction
        order_by = ("t.kind DESC, " if order == ReviewQueue.Order.SCORE_LOW else "t.kind, ") + order_by
    item_sql = "AND t.id = %(item)s" if one_item else ""
    return f"""
            SELECT t.id FROM {table} t
            WHERE t.language_id = %(language)s {kind_sql} AND t.status = %(pending)s AND t.claims < %(overlap)s
              {where} {item_sql}
              AND NOT EXISTS (SELECT 1 FROM curation_assignment a
                              WHERE a.{qk.column} = t.id AND a.reviewer_id = %(reviewer)s)
            ORDER BY {order_by}
            LIMIT 1
            FOR UPDATE OF t SKIP LOCKED"""


def _claim_skip_locked(reviewer, language, qk: QueueKind, overlap: int, order: str,
                       item_id: int | None) -> Claim | None:
    table = qk.model._meta.db_table
    fields = qk.model._meta.concrete_fields
    returning = ", ".join(f"t.{connection.ops.quote_name(f.column)}" for f in fields)
    params: dict = {"language": language.pk, "kind": qk.key, "overlap": overlap, "reviewer": reviewer.pk,
                    "pending": ReviewStatus.PENDING, "item": item_id, "queue": qk.key, "now": timezone.now(),
                    "open": Assignment.State.OPEN}
    # A sample is shown with its latest run: read in the same statement (the execution's
    # own query and its ORM compiling cost more than the join).
    execution_fields = Execution._meta.concrete_fields if qk.is_sample else ()
    execution_sql = ""
    if qk.is_sample:
        columns = ", ".join(f"e.{connection.ops.quote_name(f.column)}" for f in execution_fields)
        execution_sql = (f" LEFT JOIN LATERAL (SELECT {columns} FROM curation_execution e WHERE e.sample_id = bumped.id "
                         f"ORDER BY e.created_at DESC LIMIT 1) run ON true")
    sql = f"""
        WITH picked AS ({claim_candidate_sql(qk, order, one_item=item_id is not None)}
        ), bumped AS (
            UPDATE {table} t SET claims = t.claims + 1 FROM picked WHERE t.id = picked.id RETURNING {returning}
        ), held AS (
            INSERT INTO curation_assignment ({qk.column}, reviewer_id, language_id, queue, state, decision,
                                             assigned_at)
            SELECT id, %(reviewer)s, %(language)s, %(queue)s, %(open)s, '', %(now)s FROM bumped
            RETURNING id
        )
        SELECT held.id, bumped.*{", run.*" if qk.is_sample else ""} FROM held, bumped{execution_sql}"""
    with connection.cursor() as cursor:
        # A hand-out is not worth a WAL flush: lost in a crash, the item is merely not held
        # and goes to the next reviewer who asks. (Decisions keep the synchronous commit.)
        # Both statements go in one message (client-side binding): outside a transaction
        # Postgres runs them as one implicit transaction, so the hand-out costs one round
        # trip instead of four (BEGIN, SET, the statement, COMMIT).
        cursor.execute(_CLAIM_HEAD + sql, params)
        cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        return None
    # The item's row comes back with the hand-out (one round trip less on the hottest
    # path); converted as the ORM would (JSON arrives as text).
    item_values, run_values = row[1:1 + len(fields)], row[1 + len(fields):]
    item = model_from_row(qk.model, fields, item_values)
    if not qk.is_sample:
        return Claim(row[0], item.pk, item)
    execution = model_from_row(Execution, execution_fields, run_values) if run_values[0] is not None else None
    return Claim(row[0], item.pk, item, execution)


def _claim_compare_and_swap(reviewer, language, qk: QueueKind, overlap: int, order: str,
                            item_id: int | None) -> tuple[int, int] | None:
    mine = Assignment.objects.filter(reviewer=reviewer, **{qk.field: OuterRef("pk")})
    candidates = queue_items(language, qk).filter(status=ReviewStatus.PENDING, claims__lt=overlap).exclude(Exists(mine))
    if item_id is not None:
        candidates = candidates.filter(pk=item_id)
    if order == ReviewQueue.Order.SCORE_HIGH:
        candidates = candidates.filter(quality__isnull=False).order_by("-quality", "pk")
    elif order == ReviewQueue.Order.SCORE_LOW:
        candidates = candidates.filter(quality__isnull=False).order_by("quality", "-pk")
    else:
        candidates = candidates.order_by("pk")
    for pk in candidates.values_list("pk", flat=True)[:20]:
        won = qk.model.objects.filter(pk=pk, status=ReviewStatus.PENDING, claims__lt=overlap).update(
            claims=F("claims") + 1)
        if won:
            return Assignment.objects.create(reviewer=reviewer, language=language, queue=qk.key,
                                             assigned_at=timezone.now(), **{qk.column: pk}).pk, pk
    return None


def release_stale(language: Language, qk: QueueKind, lease_minutes: int) -> int:
    """Return items held longer than the lease to the pool; the number released."""
    cutoff = timezone.now() - dt.timedelta(minutes=lease_minutes)
    with transaction.atomic():
        stale = list(Assignment.objects.select_for_update(skip_locked=True).filter(
            language=language, queue=qk.key, state=Assignment.State.OPEN, assigned_at__lt=cutoff)
            .values_list("pk", qk.column))
        if not stale:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in stale]).delete()
        for item_id in {item for _, item in stale}:  # few: only holds that outlived the lease
            qk.model.objects.filter(pk=item_id, claims__gt=0).update(claims=F("claims") - 1)
    return len(stale)


# ---------------------------------------------------------------- deciding

def resolution(labels: list[str], overlap: int) -> str | None:
    """The status an item takes once `overlap` reviewers decided it: unanimous accept or
    reject, else disputed (for adjudication); None while decisions are missing."""
    decided = [label for label in labels if label in DECISIONS]
    if len(decided) < max(overlap, 1):
        return None
    if all(label == ACCEPT for label in decided):
        return ReviewStatus.ACCEPTED
    if all(label == REJECT for label in decided):
        return ReviewStatus.REJECTED
    return ReviewStatus.DISPUTED


def seconds_since(moment: dt.datetime) -> float:
    return min(max((timezone.now() - moment).total_seconds(), 0.0), MAX_SECONDS)


def _my_decisions(reviewer, language: Language, kind: str) -> QuerySet:
    return Assignment.objects.filter(reviewer=reviewer, language=language, queue=kind, decided_at__isnull=False,
                                     state__in=[Assignment.State.DONE, Assignment.State.SKIPPED])


def undo_target(reviewer, language: Language, kind: str) -> Assignment | None:
    """The reviewer's latest decision or skip in this queue that can still be taken back:
    nobody has settled the item since (an adjudication or a bulk action)."""
    qk = queue_kind(kind)
    last = _with_item(_my_decisions(reviewer, language, kind), qk).order_by("-decided_at").first()
    if last is None:
        return None
    settled_later = Review.objects.filter(**{qk.field: last.item_id}, created_at__gt=last.decided_at).filter(
        Q(adjudication=True) | Q(bulk=True)).exists()
    if settled_later or last.item.status in (ReviewStatus.AUTO_REJECTED,):
        return None
    return last


def edit_is_acceptable(original_verdict: str, edited: Execution | None) -> bool:
    """An edited program must have been re-run; it may be accepted when it runs cleanly, or
    fails exactly as the original did (a negative sample must stay negative)."""
    if edited is None:
        return False
    return edited.verdict == Execution.Verdict.OK or (bool(original_verdict) and edited.verdict == original_verdict)


EDIT_MUST_RUN = ("The edited program must run cleanly (or fail as the original did) before it can be accepted: "
                 "fix it and run it again, or discard the edit.")


def sample_revision_problem(original_verdict: str, edit: Review) -> str:
    """Why a reviewer's edit of a sample cannot be accepted yet; "" when it can."""
    return "" if edit_is_acceptable(original_verdict, edit.edited_execution) else EDIT_MUST_RUN


def revision_problem(qk: QueueKind, edit: Review, *, original_verdict: str = "",
                     known_anchors=frozenset()) -> str:
    """Why a reviewer's edited revision cannot be accepted yet; "" when it can.

    A sample's program must run cleanly or fail as the original did (`edit_is_acceptable`).
    A DPO pair's chosen program must pass the pair's tests and its rejected program must
    still fail them (a sandbox error says nothing about the program). A doc-QA item's
    example, when it has one, must run cleanly, and its answer must cite at least one
    section, each of them one of `known_anchors` (the language's, as the caller read them)."""
    if qk.is_sample:
        return sample_revision_problem(original_verdict, edit)
    if qk.key == PAIRS:
        chosen, rejected = edit.edited_execution, edit.edited_rejected_execution
        if chosen is None or chosen.verdict != Execution.Verdict.OK:
            return "The edited chosen program must pass the pair's tests before it can be accepted."
        if rejected is None or rejected.verdict in (Execution.Verdict.OK, Execution.Verdict.SANDBOX_ERROR):
            return "The edited rejected program must still fail the pair's tests before it can be accepted."
        return ""
    if edit.edited_code.strip() and (edit.edited_execution is None
                                     or edit.edited_execution.verdict != Execution.Verdict.OK):
        return "The edited example must run cleanly before it can be accepted."
    cited = cited_anchors(edit.edited_answer)
    if not cited:
        return "The edited answer must cite a section of the docs (like §3.2)."
    missing = [anchor for anchor in cited if anchor not in known_anchors]
    if missing:
        return f"The edited answer cites {', '.join(missing)}, which the docs do not have."
    return ""


# ---------------------------------------------------------------- reads for pages

@dataclass(frozen=True)
class Progress:
    waiting: int
    more: bool  # more than `waiting` (the count is capped)
    done_today: int
    can_undo: bool


# Queues found deeper than the cap: (language, queue, overlap, cap) -> when. A deep queue
# stays deep for a while (a thousand items take fifty reviewers about a minute), so for a
# few seconds its "1,000+" is taken as read: counting past the cap was the costliest part
# of drawing the next item (a thousand index entries and their heap rows, ~3 ms of the
# database's CPU per decision). Shallow queues are counted exactly every time.
_DEEP_QUEUES: dict[tuple, float] = {}
DEEP_QUEUE_SECONDS = 5.0


def queue_progress(reviewer, language: Language, qk: QueueKind, overlap: int, cap: int) -> Progress:
    """What the focus view shows beside each item — free items left (capped), the
    reviewer's decisions today, whether undo has something to take back — in one round
    trip: this runs after every decision."""
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    table = qk.model._meta.db_table
    deep_key = (language.pk, qk.key, overlap, cap)
    deep = time.monotonic() - _DEEP_QUEUES.get(deep_key, -DEEP_QUEUE_SECONDS) < DEEP_QUEUE_SECONDS
    kind_sql = "AND kind >= %s AND kind <= %s" if qk.is_sample else ""  # see KIND_RANGE_SQL
    waiting_sql = "%s" if deep else (
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE language_id = %s {kind_sql} AND status = %s "
        f"AND claims < %s ORDER BY {'kind, ' if qk.is_sample else ''}id LIMIT %s) w)")
    waiting_params = [cap + 1] if deep else [language.pk, *([qk.key, qk.key] if qk.is_sample else []),
                                             ReviewStatus.PENDING, overlap, cap + 1]
    sql = (
        f"SELECT {waiting_sql}, "
        "(SELECT count(*) FROM curation_assignment WHERE reviewer_id = %s AND language_id = %s AND queue = %s "
        "AND decided_at >= %s AND state = %s), "
        "(SELECT count(*) FROM (SELECT 1 FROM curation_assignment WHERE reviewer_id = %s AND language_id = %s "
        "AND queue = %s AND decided_at IS NOT NULL AND state IN (%s, %s) LIMIT 1) u)")
    params = [*waiting_params,
              reviewer.pk, language.pk, qk.key, today, Assignment.State.DONE,
              reviewer.pk, language.pk, qk.key, Assignment.State.DONE, Assignment.State.SKIPPED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        waiting, done, undo = cursor.fetchone()
    if not deep:
        if waiting > cap:
            _DEEP_QUEUES[deep_key] = time.monotonic()
        else:
            _DEEP_QUEUES.pop(deep_key, None)
    return Progress(min(waiting, cap), waiting > cap, done, bool(undo))


def capped_count(qs: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, more): counts at most `cap` rows — `SELECT count(*) FROM (… LIMIT cap+1)`."""
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def pending_counts(language_ids: list[int], cap: int = COUNT_CAP) -> dict[tuple[int, str], tuple[int, bool]]:
    """Waiting items per (language, queue), each count capped, in one round trip."""
    parts, params = [], []
    for language_id in language_ids:
        for key, qk in QUEUE_KINDS.items():
            kind_sql = "AND kind = %s" if qk.is_sample else ""
            parts.append(f"SELECT %s, %s, (SELECT count(*) FROM (SELECT 1 FROM {qk.model._meta.db_table} "
                         f"WHERE language_id = %s {kind_sql} AND status = %s LIMIT %s) c)")
            params += [language_id, key, language_id, *([key] if qk.is_sample else []), ReviewStatus.PENDING, cap + 1]
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {(language_id, key): (min(n, cap), n > cap) for language_id, key, n in cursor.fetchall()}


def status_counts(language_ids: list[int], status: str) -> dict[tuple[int, str], int]:
    """Per (language, queue), the items in a rare status (disputed): small sets, counted exactly."""
    counts: dict[tuple[int, str], int] = {}
    for key, model, group in ((None, Sample, "kind"), (PAIRS, PreferencePair, None), (QA, DocQAItem, None)):
        fields = ["language", group] if group else ["language"]
        for row in model.objects.filter(language__in=language_ids, status=status).values(*fields).annotate(n=Count("id")):
            counts[(row["language"], row[group] if group else key)] = row["n"]
    return counts


@dataclass(frozen=True)
class DiffRow:
    tag: str  # equal, replace, delete, insert
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(left: str, right: str) -> list[DiffRow]:
    """Line-aligned rows for a two-column diff; the template escapes the text."""
    a, b = (left or "").splitlines(), (right or "").splitlines()
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            li, rj = i1 + k, j1 + k
            rows.append(DiffRow(tag, li + 1 if li < i2 else None, a[li] if li < i2 else "",
                                rj + 1 if rj < j2 else None, b[rj] if rj < j2 else ""))
    return rows


def anchor_id(anchor: str) -> str:
    """A DOM id for a doc anchor: §3.2 → cite-3-2."""
    return "cite-" + anchor.lstrip("§").replace(".", "-")


def split_citations(text: str) -> list[tuple[str, str | None]]:
    """Text cut into (piece, anchor-or-None) so a template can link every §x.y it cites
    while escaping everything else."""
    pieces, pos = [], 0
    for match in CITATION.finditer(text or ""):
        if match.start() > pos:
            pieces.append((text[pos:match.start()], None))
        pieces.append((match.group(0), "§" + match.group(1)))
        pos = match.end()
    if pos < len(text or ""):
        pieces.append((text[pos:], None))
    return pieces


# ---------------------------------------------------------------- browse

BROWSE_FILTERS = ("kind", "verdict", "generator", "status", "reviewer", "error_type", "date_from", "date_to", "q")
# Browse counts stop here: past it every matching row costs a heap visit, and "1,000+
# (about 41,600)" says as much as an exact figure.
BROWSE_COUNT_CAP = 1_000
# The words of prompt and code live in a side table behind its GIN index (SampleSearch);
# `{window}` narrows the hits to a stretch of browse order there, before a sample is read.
SEARCH_SQL = ("curation_sample.id IN (SELECT s.sample_id FROM curation_samplesearch s "
              "WHERE s.search @@ to_tsquery('simple', %s){window})")
FTS_MATCH = SEARCH_SQL.format(window="")
SEARCH_KEYSET = " AND (s.created_at, s.sample_id) {} (%s, %s)"
# A search is answered from the GIN index intersected with a window of the newest rows
# (bitmaps of both, ANDed, in the side table), widening until a page is full: the work is a
# few bitmap builds and one sample visit per hit in the window. Without the window, a
# common word (8,777 hits for "metatable closure") costs a sample visit per hit: 190 ms.
# Never per-row to_tsvector: Postgres's cost model prices it at a fraction of the ~20-60 µs
# it takes, so left alone it will happily parse thousands of rows to find a rare word.
SEARCH_WINDOWS = (20_000, 100_000, 400_000, None)


def browse_queryset(language: Language, filters: dict, *, search: bool = True) -> QuerySet:
    """Samples of the language matching the browse filters (cleaned values; empty ones
    ignored), newest first. The bulk action applies a decision to exactly this set.
    `search=False` leaves the full-text condition out."""
    qs = Sample.objects.filter(language=language)
    for field in ("kind", "verdict", "generator", "status"):
        if filters.get(field):
            qs = qs.filter(**{field: filters[field]})
    if filters.get("reviewer"):
        qs = qs.filter(Exists(Review.objects.filter(sample=OuterRef("pk"), reviewer_id=filters["reviewer"])))
    if filters.get("error_type"):
        qs = qs.filter(Exists(Execution.objects.filter(sample=OuterRef("pk"), error_type=filters["error_type"])))
    if filters.get("date_from"):
        qs = qs.filter(created_at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(created_at__lt=_day_start(filters["date_to"]) + dt.timedelta(days=1))
    if search and filters.get("q"):
        tsquery = search_tsquery(filters["q"])
        if tsquery is None:
            pass
        elif connection.vendor == "postgresql":
            qs = qs.extra(where=[FTS_MATCH], params=[tsquery])
        else:
            qs = qs.filter(Q(prompt__icontains=filters["q"]) | Q(code__icontains=filters["q"]))
    return qs.order_by("-created_at", "-pk")


KEYSET = "(curation_sample.created_at, curation_sample.id) {} (%s, %s)"


def page_after(qs: QuerySet, position: tuple, *, newer: bool) -> QuerySet:
    """Keyset paging on (created_at, id) — no OFFSET: page 1,000 costs what page 1 costs.
    `position` is (created_at, id) of the row the page starts after."""
    qs = qs.extra(where=[KEYSET.format(">" if newer else "<")], params=list(position))
    return qs.order_by("created_at", "pk") if newer else qs


_TERM = re.compile(r"[^\W_]+")


def search_tsquery(text: str) -> str | None:
    """The browse search box as a to_tsquery expression: words must all occur, `-word`
    must not, `or` between two words accepts either; quotes only group. No phrases: the
    GIN index keeps no word positions, so Postgres would re-check every hit by re-parsing
    prompt and code (~60 µs a row) — a phrase over a common word took seconds on a million
    rows. Words split as the 'simple' parser splits them (snake_case is two words)."""
    groups: list[list[str]] = [[]]
    pending_or = False
    for token in (text or "").replace('"', " ").split():
        if token.lower() == "or":
            pending_or = bool(groups[-1])
            continue
        negate = token.startswith("-") and len(token) > 1
        lexemes = [w.lower() for w in _TERM.findall(token)]
        if not lexemes:
            continue
        term = " & ".join(f"'{w}'" for w in lexemes)
        term = f"!({term})" if negate else (f"({term})" if len(lexemes) > 1 else term)
        if pending_or and groups[-1]:
            groups[-1][-1] = f"({groups[-1][-1]} | {term})"
        else:
            groups[-1].append(term)
        pending_or = False
    terms = groups[-1]
    if not terms or all(t.startswith("!") for t in terms):
        return None  # nothing to look for (a lone exclusion cannot use the index)
    return " & ".join(terms)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)


def estimate_rows(qs: QuerySet) -> int | None:
    """The planner's estimate of how many rows `qs` returns (planning only, no execution);
    None off Postgres."""
    if connection.vendor != "postgresql":
        return None
    import json

    sql, params = qs.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


@contextmanager
def _planner(**switches: str):
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in switches.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        yield


def browse_page(language: Language, filters: dict, *, position: tuple | None = None, newer: bool = False,
                size: int = 50, columns: tuple = (), few: bool = False) -> tuple[list[Sample], bool]:
    """One page of browse results after `position` ((created_at, id) of a row; newer or
    older), newest first; returns (rows, more beyond them). `few`: the caller knows the
    whole filtered set is small (it counted it), so a search needs no windows."""
    tsquery = search_tsquery(filters.get("q") or "")
    windowed = tsquery is not None and connection.vendor == "postgresql" and not few
    qs = browse_queryset(language, filters, search=not windowed)
    if position is not None:
        qs = page_after(qs, position, newer=newer)
    if columns:
        qs = qs.only(*columns)
    if windowed:
        rows = _search_page(language, qs, tsquery, position=position, newer=newer, size=size)
    elif tsquery is not None and connection.vendor == "postgresql":
        with bitmap_scans():
            rows = list(qs[: size + 1])
    else:
        with bitmap_scans(selective_filter(filters)):
            rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return (rows[::-1] if newer else rows), more


def selective_filter(filters: dict) -> bool:
    """A filter that a few index entries answer (one reviewer's decisions): start from them
    and sort, rather than let Postgres walk every sample newest-first testing each, which
    it prefers under a LIMIT and which took 2.5 s at 1M rows when the reviewer's items were
    the oldest (17 ms from the reviewer's index)."""
    return bool(filters.get("reviewer"))


def _search_page(language, qs, tsquery: str, *, position, newer, size) -> list[Sample]:
    """`qs`: the other filters, paged; the search goes in here, window by window."""
    rows: list[Sample] = []
    paged = (SEARCH_KEYSET.format(">" if newer else "<"), list(position)) if position is not None else ("", [])
    for width in SEARCH_WINDOWS:
        bound = _window_edge(language, position, newer, width) if width else None
        window, params = paged
        if bound is not None:
            window, params = window + SEARCH_KEYSET.format("<=" if newer else ">="), params + list(bound)
        windowed = qs.extra(where=[SEARCH_SQL.format(window=window)], params=[tsquery, *params])
        with bitmap_scans():
            rows = list(windowed[: size + 1])
        if len(rows) > size or bound is None:
            return rows
    return rows


def _window_edge(language: Language, position: tuple | None, newer: bool, width: int) -> tuple | None:
    """(created_at, id) of the row `width` rows away from `position` (or from the newest
    row) in browse order; None when there are fewer rows than that. An index-only walk."""
    edge = Sample.objects.filter(language=language)
    if position is not None:
        edge = page_after(edge, position, newer=newer)
    edge = edge.order_by("created_at", "pk") if newer else edge.order_by("-created_at", "-pk")
    return edge.values_list("created_at", "pk")[width:width + 1].first()


def bitmap_scans(enabled: bool = True):
    """Inside: Postgres answers from index bitmaps (the full-text GIN index) rather than by
    walking a table or an index in order and computing to_tsvector for each row — which its
    cost model prices at a fraction of the ~60 µs it takes. Room for exact bitmaps too: a
    lossy one makes it re-check every row of a page."""
    if not enabled:
        return _planner()
    return _planner(enable_seqscan="off", enable_indexscan="off", work_mem="'64MB'")
