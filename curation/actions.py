"""Writes that matter, one function per action. Views, tasks and commands call these."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from curation.models import DocSection, Example, Language, Task
from curation.packs import PackContent, PackInvalid, check_pack, check_triage_rules, read_pack
from curation.roles import ADMIN, ROLES


@dataclass
class OnboardReport:
    language: Language
    summary: dict
    changes: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(v for kind in self.changes.values() for v in kind.values())


def do_onboard_language(root: Path | str, *, run_many=None) -> OnboardReport:
    """Validate a pack and load it; re-running updates and never duplicates.

    Preconditions: the pack reads (PackError otherwise) and passes its checks — examples
    parse and run, references pass, known-wrong solutions fail (PackInvalid lists every
    problem). Nothing is written unless all of that holds; then everything is written in
    one transaction. The pack's [triage] rules become `language.spec["triage"]`; a pack
    without that table keeps the rules the language already has.
    """
    if run_many is None:
        from sandbox import run_many
    content = read_pack(root)
    problems = check_pack(content, run_many)
    if problems:
        raise PackInvalid(problems)
    with transaction.atomic():
        return _store_pack(content)


def _store_pack(content: PackContent) -> OnboardReport:
    pack = content.pack
    spec = {
        "command": list(pack.command), "version_command": list(pack.version_command),
        "limits": vars(pack.limits), "keywords": list(pack.keywords), "operators": list(pack.operators),
        "builtins": list(pack.builtins), "line_comment": pack.line_comment,
    }
    if pack.triage:
        spec["triage"] = check_triage_rules(pack.triage)  # read_pack has refused bad rules already
    language, created = Language.objects.select_for_update().get_or_create(
        slug=pack.slug,
        defaults=dict(name=pack.name, version=pack.version, extension=pack.extension, grammar=pack.grammar,
                      pack_path=str(pack.root), pack_hash=content.digest, spec=spec, guidelines=content.guidelines,
                      licence=pack.licence, onboarded_at=timezone.now()),
    )
    changes = {"language": {"created": int(created), "updated": 0}}
    if not created:
        # A pack with a [triage] table owns the language's rules; one without leaves the rules
        # someone set in the admin as they are, rather than wiping them on every re-onboard.
        if not pack.triage and (language.spec or {}).get("triage"):
            spec["triage"] = language.spec["triage"]
        wanted = dict(name=pack.name, version=pack.version, extension=pack.extension, grammar=pack.grammar,
                      pack_path=str(pack.root), pack_hash=content.digest, spec=spec,
                      guidelines=content.guidelines, licence=pack.licence)
        dirty = [k for k, v in wanted.items() if getattr(language, k) != v]
        if dirty:
            for key in dirty:
                setattr(language, key, wanted[key])
            language.onboarded_at = timezone.now()
            language.save(update_fields=[*dirty, "onboarded_at"])
            changes["language"]["updated"] = 1

    changes["sections"] = _sync(
        DocSection.objects.filter(language=language), key="anchor",
        rows={s.anchor: dict(title=s.title, body=s.body, source_file=s.source_file, source_line=s.source_line,
                             order=s.order) for s in content.sections},
        make=lambda key, values: DocSection(language=language, anchor=key, **values),
    )
    changes["examples"] = _sync(
        Example.objects.filter(language=language), key="name",
        rows={e.name: dict(code=e.code, expected_output=e.expected_output or "", runnable=e.runnable)
              for e in content.examples},
        make=lambda key, values: Example(language=language, name=key, **values),
    )
    changes["tasks"] = _sync(
        Task.objects.filter(language=language, source="pack"), key="name",
        rows={t.name: dict(split=t.split, category=t.category, prompt=t.prompt, entry_point=t.entry_point,
                           tests=t.tests, reference=t.reference, wrong=t.wrong) for t in content.tasks},
        make=lambda key, values: Task(language=language, name=key, source="pack", **values),
    )
    return OnboardReport(language, content.summary(), changes)


def _sync(queryset, *, key: str, rows: dict[str, dict], make) -> dict:
    """Make the rows of `queryset` equal `rows` (keyed by `key`), in bulk; count changes."""
    existing = {getattr(obj, key): obj for obj in queryset}
    new = [make(k, v) for k, v in rows.items() if k not in existing]
    changed, fields = [], set()
    for k, values in rows.items():
        obj = existing.get(k)
        if obj is None:
            continue
        dirty = [f for f, v in values.items() if getattr(obj, f) != v]
        if dirty:
            for f in dirty:
                setattr(obj, f, values[f])
            changed.append(obj)
            fields.update(dirty)
    gone = [obj.pk for k, obj in existing.items() if k not in rows]
    if new:
        queryset.model.objects.bulk_create(new, batch_size=500)
    if changed:
        queryset.model.objects.bulk_update(changed, sorted(fields), batch_size=500)
    if gone:
        queryset.model.objects.filter(pk__in=gone).delete()
    return {"created": len(new), "updated": len(changed), "deleted": len(gone)}


def do_create_user(username: str, *, role: str, password: str, email: str = "", languages=()) -> object:
    """Create (or update) a user with exactly one role; admins are also staff for the Django admin."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    User = get_user_model()
    with transaction.atomic():
        user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
        user.set_password(password)
        user.email = email or user.email
        user.is_staff = role == ADMIN
        user.is_superuser = role == ADMIN
        user.save()
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
        user.groups.set([groups[role]])
        if languages:
            for language in languages:
                language.members.add(user)
    return user


def do_execute_samples(language: Language, sample_ids: list[int], *, by=None):
    """Queue a sandbox job over these samples of the language; returns the Job."""
    from curation.jobs import create_job, enqueue
    from curation.models import Job
    from curation.tasks import execute_samples

    with transaction.atomic():
        job = create_job(Job.Kind.EXECUTION, language=language, params={"sample_ids": list(sample_ids)}, created_by=by)
        enqueue(job, execute_samples, queue="sandbox")
    return job


# ---------------------------------------------------------------- review

class ReviewRefused(Exception):
    """A review action whose preconditions do not hold; the message is for the reviewer."""


class BulkSetChanged(ReviewRefused):
    """The filtered set no longer holds the number of waiting items its confirmation showed."""

    def __init__(self, matched: int, found: int):
        self.matched, self.found = matched, found
        super().__init__(f"The filter now matches {found:,} sample{'' if found == 1 else 's'} awaiting review, not "
                         f"the {matched:,} you confirmed: nothing was changed. Check the new count and confirm again.")


def _lock_held(assignment, by):
    """Lock the hold and its item (one SELECT … FOR UPDATE over both rows) and check that
    the hold is still `by`'s and open and the item still waits. Returns the queue kind and
    the two rows, loaded with just what the review actions read and write."""
    from django.db import connection

    from curation.models import Assignment, ReviewStatus
    from curation.review import queue_kind

    qk = queue_kind(assignment.queue)
    table = qk.model._meta.db_table
    verdict = "t.verdict" if qk.is_sample else "''"
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id, t.status, t.language_id, {verdict}, a.reviewer_id, a.state, a.edit_id, a.assigned_at "
            f"FROM curation_assignment a JOIN {table} t ON t.id = a.{qk.column} WHERE a.id = %s{lock}",
            [assignment.pk])
        row = cursor.fetchone()
    if row is None:
        raise ReviewRefused("This item was handed to a colleague while you were away.")
    item_id, status, language_id, verdict_value, reviewer_id, state, edit_id, assigned_at = row
    if timezone.is_naive(assigned_at):  # SQLite hands raw timestamps back naive (they are UTC)
        import datetime as dt

        assigned_at = timezone.make_aware(assigned_at, dt.timezone.utc)
    item = qk.model(pk=item_id, status=status, language_id=language_id)
    if qk.is_sample:
        item.verdict = verdict_value
    held = Assignment(pk=assignment.pk, queue=qk.key, reviewer_id=reviewer_id, state=state, edit_id=edit_id,
                      assigned_at=assigned_at, language_id=language_id, **{qk.column: item_id})
    for row_object in (item, held):
        row_object._state.adding, row_object._state.db = False, "default"
    if reviewer_id != by.pk:
        raise ReviewRefused("This item is held by another reviewer.")
    if state != Assignment.State.OPEN:
        raise ReviewRefused("You have already decided this item.")
    if status != ReviewStatus.PENDING:
        raise ReviewRefused("This item was decided by someone else meanwhile.")
    return qk, item, held


def do_record_review(assignment, decision: str, *, by, reason: str = "", rating: int | None = None,
                     comment: str = "", overlap: int | None = None):
    """Record one reviewer's accept, reject or skip of the item they hold; returns the Review.

    Preconditions: `assignment` is `by`'s open hold and the item still waits (ReviewRefused
    otherwise); a reject names a reason; a rating is 1–5; accepting an item that `by`
    edited needs the edit to hold up (`curation.review.revision_problem`: a sample's re-run
    passes or fails exactly as the original did, a pair's chosen program passes and its
    rejected one still fails, a doc-QA example runs and its answer cites existing sections)
    — the accepted revision is the edit, kept on the Review beside the untouched original.
    Effects: the hold is done (or skipped, which frees it for a colleague and never hands
    it to `by` again); once the queue's overlap of reviewers decided, the item is accepted
    or rejected when they agree and disputed when they do not. `overlap` is the queue's, when
    the caller has it at hand.
    """
    from django.db import connection
    from django.db.models import F

    from curation.models import Assignment, Review
    from curation.review import DECISIONS, queue_config, resolution, seconds_since

    if decision not in (*DECISIONS, Review.Decision.SKIP):
        raise ReviewRefused(f"Unknown decision {decision!r}.")
    if decision == Review.Decision.REJECT and not reason.strip():
        raise ReviewRefused("Pick a reason to reject.")
    if rating is not None and not 1 <= rating <= 5:
        raise ReviewRefused("A rating is 1 to 5.")
    if connection.vendor == "postgresql" and (decision == Review.Decision.SKIP or overlap == 1):
        review = _decide_in_one_statement(assignment, decision, by=by, reason=reason.strip()[:100], rating=rating,
                                          comment=comment.strip())
        if review is not None:
            return review
        # The hold carries an edit: accepting it needs the edit's execution checked first.
    with transaction.atomic():
        qk, item, held = _lock_held(assignment, by)
        review = Review(**{qk.field: item}, reviewer=by, decision=decision, reason=reason.strip()[:100],
                        rating=rating, comment=comment.strip(), seconds_spent=seconds_since(held.assigned_at))
        if decision == Review.Decision.ACCEPT and held.edit_id:
            edit = Review.objects.select_related("edited_execution", "edited_rejected_execution").get(pk=held.edit_id)
            problem = _revision_problem(qk, item, edit)
            if problem:
                raise ReviewRefused(problem)
            review.edited_code, review.edited_execution = edit.edited_code, edit.edited_execution
            review.edited_rejected, review.edited_rejected_execution = (edit.edited_rejected,
                                                                        edit.edited_rejected_execution)
            review.edited_answer = edit.edited_answer
        held.state = Assignment.State.SKIPPED if decision == Review.Decision.SKIP else Assignment.State.DONE
        held.decision = decision if decision in DECISIONS else ""
        held.rating, held.decided_at = rating, timezone.now()
        if decision != Review.Decision.SKIP:
            overlap = overlap or queue_config(Language(pk=item.language_id), qk.key).overlap
        if connection.vendor == "postgresql" and (decision == Review.Decision.SKIP or overlap == 1):
            # The hot path of the whole app (one reviewer per item, every few seconds per
            # reviewer): the audit row, the hold and the item in one statement.
            _write_decision(qk, item, held, review, settles=resolution([decision], 1))
            return review
        review.save()
        held.review = review
        held.save(update_fields=["state", "decision", "rating", "decided_at", "review"])
        if decision == Review.Decision.SKIP:
            qk.model.objects.filter(pk=item.pk, claims__gt=0).update(claims=F("claims") - 1)
        else:
            labels = [decision] if overlap == 1 else list(Assignment.objects.filter(
                **{qk.field: item}, state=Assignment.State.DONE).values_list("decision", flat=True))
            status = resolution(labels, overlap)
            if status:
                item.status = status
                item.save(update_fields=["status"])
    return review


_REVIEW_COLUMNS = ("sample_id", "pair_id", "docqa_id", "reviewer_id", "decision", "reason", "rating", "edited_code",
                   "edited_execution_id", "comment", "seconds_spent", "bulk", "bulk_action_id", "adjudication",
                   "created_at")


def _decide_in_one_statement(assignment, decision: str, *, by, reason: str, rating: int | None, comment: str):
    """The hot path of the whole app (one reviewer per item, a decision every few seconds
    per reviewer): lock the hold and its item, check them, insert the Review, close the hold
    and settle the item, in one statement — one round trip where BEGIN, a locking SELECT,
    the writes and COMMIT took four. Returns the Review; None when the hold has an edit (the
    caller takes the general path, which checks the edit's run); ReviewRefused as
    `_lock_held` words it.

    Concurrency: the CTE `held` locks both rows (FOR UPDATE) and, when a concurrent
    transaction changed them first, sees their committed versions (Postgres re-reads a
    locked row), so a bulk action or an expired lease that won the race is noticed here and
    nothing is written. The writes only run when `go` has its row."""
    from django.db import connection

    from curation.models import Assignment, Review, ReviewStatus
    from curation.review import ACCEPT, MAX_SECONDS, SKIP, queue_kind

    qk = queue_kind(assignment.queue)
    table = qk.model._meta.db_table
    now = timezone.now()
    state = Assignment.State.SKIPPED if decision == SKIP else Assignment.State.DONE
    label = "" if decision == SKIP else decision
    if decision == SKIP:
        item_sql = f"UPDATE {table} t SET claims = t.claims - 1 FROM go WHERE t.id = go.item_id AND t.claims > 0"
        item_params: list = []
    else:
        item_sql = f"UPDATE {table} t SET status = %s FROM go WHERE t.id = go.item_id"
        item_params = [ReviewStatus.ACCEPTED if decision == ACCEPT else ReviewStatus.REJECTED]
    item_columns = {"sample_id": "go.item_id" if qk.column == "sample_id" else "NULL",
                    "pair_id": "go.item_id" if qk.column == "pair_id" else "NULL",
                    "docqa_id": "go.item_id" if qk.column == "docqa_id" else "NULL"}
    values = [item_columns["sample_id"], item_columns["pair_id"], item_columns["docqa_id"], "%s", "%s", "%s", "%s",
              "''", "NULL", "%s",
              "LEAST(GREATEST(EXTRACT(EPOCH FROM (%s::timestamptz - go.assigned_at)), 0), %s)::float",
              "false", "NULL", "false", "%s"]
    sql = f"""
        WITH held AS (
            SELECT a.id, a.reviewer_id, a.state, a.edit_id, a.assigned_at, t.id AS item_id, t.status
            FROM curation_assignment a JOIN {table} t ON t.id = a.{qk.column}
            WHERE a.id = %s
            FOR UPDATE
        ), go AS (
            SELECT * FROM held WHERE reviewer_id = %s AND state = %s AND status = %s AND edit_id IS NULL
        ), r AS (
            INSERT INTO curation_review ({", ".join(_REVIEW_COLUMNS)})
            SELECT {", ".join(values)} FROM go
            RETURNING id, seconds_spent
        ), a AS (
            UPDATE curation_assignment SET state = %s, decision = %s, rating = %s, decided_at = %s, review_id = r.id
            FROM r WHERE curation_assignment.id = %s
        ), i AS ({item_sql})
        SELECT held.reviewer_id, held.state, held.edit_id, held.status, held.item_id, r.id, r.seconds_spent
        FROM held LEFT JOIN r ON true"""
    params = [assignment.pk, by.pk, Assignment.State.OPEN, ReviewStatus.PENDING,
              by.pk, decision, reason, rating, comment, now, MAX_SECONDS, now,
              state, label, rating, now, assignment.pk, *item_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise ReviewRefused("This item was handed to a colleague while you were away.")
    reviewer_id, held_state, edit_id, status, item_id, review_id, seconds = row
    if review_id is None:
        if reviewer_id != by.pk:
            raise ReviewRefused("This item is held by another reviewer.")
        if held_state != Assignment.State.OPEN:
            raise ReviewRefused("You have already decided this item.")
        if status != ReviewStatus.PENDING:
            raise ReviewRefused("This item was decided by someone else meanwhile.")
        if edit_id is not None:
            return None
        raise ReviewRefused("This item could not be decided; reload it.")  # unreachable: go had no row
    review = Review(pk=review_id, reviewer=by, decision=decision, reason=reason, rating=rating, comment=comment,
                    seconds_spent=seconds, created_at=now, **{qk.column: item_id})
    review._state.adding, review._state.db = False, "default"
    return review


def _write_decision(qk, item, held, review, *, settles: str | None) -> None:
    """INSERT the Review, UPDATE the hold to point at it and UPDATE the item (its status
    when the decision settles it, its claims on a skip) — one round trip, no ORM compiling.
    Sets review.pk."""
    from django.db import connection

    from curation.models import Review

    table = qk.model._meta.db_table
    review.created_at = held.decided_at
    columns = ["sample_id", "pair_id", "docqa_id", "reviewer_id", "decision", "reason", "rating", "edited_code",
               "edited_execution_id", "edited_rejected", "edited_rejected_execution_id", "edited_answer", "comment",
               "seconds_spent", "bulk", "bulk_action_id", "adjudication", "created_at"]
    values = [review.sample_id, review.pair_id, review.docqa_id, review.reviewer_id, review.decision, review.reason,
              review.rating, review.edited_code, review.edited_execution_id, review.edited_rejected,
              review.edited_rejected_execution_id, review.edited_answer, review.comment, review.seconds_spent,
              False, None, False, review.created_at]
    if review.decision == Review.Decision.SKIP:
        item_sql, item_params = f"UPDATE {table} SET claims = claims - 1 WHERE id = %s AND claims > 0", [item.pk]
    elif settles:
        item_sql, item_params = f"UPDATE {table} SET status = %s WHERE id = %s", [settles, item.pk]
    else:
        item_sql, item_params = f"SELECT 1 FROM {table} WHERE false", []
    sql = (f"WITH r AS (INSERT INTO curation_review ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))})"
           f" RETURNING id), "
           f"a AS (UPDATE curation_assignment SET state = %s, decision = %s, rating = %s, decided_at = %s, "
           f"review_id = (SELECT id FROM r) WHERE id = %s), "
           f"i AS ({item_sql}) "
           f"SELECT id FROM r")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, held.state, held.decision, held.rating, held.decided_at, held.pk, *item_params])
        review.pk = cursor.fetchone()[0]
    if settles:
        item.status = settles


def do_undo_review(assignment, *, by):
    """Take back `by`'s decision or skip: the item waits again and `by` holds it again.

    Preconditions: `assignment` is `by`'s, done or skipped, and nobody settled the item
    since (adjudication, bulk action) — `curation.review.undo_target` finds such a hold.
    The undone Review stays in the audit trail; an UNDO Review records the taking back.
    """
    from django.db.models import F

    from curation.models import Assignment, Review, ReviewStatus
    from curation.review import queue_kind

    qk = queue_kind(assignment.queue)
    with transaction.atomic():
        item = qk.model.objects.select_for_update().get(pk=assignment.item_id)
        held = Assignment.objects.select_for_update(of=("self",)).select_related("review").get(pk=assignment.pk)
        if held.reviewer_id != by.pk or held.state not in (Assignment.State.DONE, Assignment.State.SKIPPED):
            raise ReviewRefused("There is nothing of yours to undo here.")
        if Review.objects.filter(**{qk.field: item}, created_at__gt=held.decided_at, adjudication=True).exists() \
                or Review.objects.filter(**{qk.field: item}, created_at__gt=held.decided_at, bulk=True).exists():
            raise ReviewRefused("This item has been settled since; it can no longer be undone.")
        if held.state == Assignment.State.DONE and item.status in (
                ReviewStatus.ACCEPTED, ReviewStatus.REJECTED, ReviewStatus.DISPUTED):
            item.status = ReviewStatus.PENDING
            item.save(update_fields=["status"])
        if held.state == Assignment.State.SKIPPED:
            qk.model.objects.filter(pk=item.pk).update(claims=F("claims") + 1)
        undone = held.review
        Review.objects.create(**{qk.field: item}, reviewer=by, decision=Review.Decision.UNDO,
                              comment=f"undid {undone.decision} (review #{undone.pk})" if undone else "undid")
        held.state, held.decision, held.rating, held.decided_at, held.review = Assignment.State.OPEN, "", None, None, None
        held.assigned_at = timezone.now()
        held.save(update_fields=["state", "decision", "rating", "decided_at", "review", "assigned_at"])
    return held


def _revision_problem(qk, item, edit) -> str:
    """`curation.review.revision_problem` for `edit` of `item`, with what it needs read here:
    a sample's original verdict, the sections a doc-QA answer cites."""
    from curation.models import DocSection
    from curation.review import QA, cited_anchors, revision_problem

    known = ()
    if qk.key == QA:
        known = set(DocSection.objects.filter(language_id=item.language_id,
                                              anchor__in=cited_anchors(edit.edited_answer))
                    .values_list("anchor", flat=True))
    return revision_problem(qk, edit, original_verdict=getattr(item, "verdict", "") or "", known_anchors=known)


MAX_EDIT_CHARS = 100_000


def _edited_text(text: str, what: str, *, required: bool = True) -> str:
    text = (text or "").replace("\r\n", "\n")
    if required and not text.strip():
        raise ReviewRefused(f"The edited {what} is empty.")
    if len(text) > MAX_EDIT_CHARS:
        raise ReviewRefused(f"The edited {what} is too long (100,000 characters at most).")
    return text


def _sandbox_run(language, run):
    """`run(program) -> sandbox.Result`: the one given (tests), else the language's sandbox."""
    if run is not None:
        return run
    import sandbox

    from curation.execution import pack_for

    pack = pack_for(language)

    def run_in_sandbox(p):
        return sandbox.run(pack, p.code, stdin=p.stdin, tests=p.tests, entry_point=p.entry_point)

    return run_in_sandbox


def _keep_revision(assignment, *, by, runs: dict, **edited):
    """Store an edit's runs and the edit itself as a Review (decision edit) and point the hold
    at it, under the hold's lock. `runs` maps a Review field to (result, program) to store as
    a new Execution, or to an Execution already stored (a side the edit left as it was). The
    executions are not attached to the item: its own are the original's; these belong to
    the revision and are reached through the Review."""
    from curation.execution import execution_from_result, program_digest
    from curation.models import Execution, Review
    from curation.review import seconds_since

    with transaction.atomic():
        qk, item, held = _lock_held(assignment, by)
        for name, run in runs.items():
            if not isinstance(run, Execution):
                result, program = run
                run = execution_from_result(result, sample=None, digest=program_digest(program))
                run.save()
            edited[name] = run
        review = Review.objects.create(**{qk.field: item}, reviewer=by, decision=Review.Decision.EDIT,
                                       seconds_spent=seconds_since(held.assigned_at), **edited)
        held.edit = review
        held.save(update_fields=["edit"])
    return review


def do_edit_sample(assignment, code: str, *, by, run=None):
    """Re-run an edited program in the sandbox and keep it as a new revision: a Review
    (decision edit) with the edited code and its Execution, beside the untouched original.
    The hold remembers it, so accepting the item accepts this revision.

    Preconditions: `assignment` is `by`'s open hold on a waiting sample; the code is not
    empty and at most 100,000 characters. The program runs with the sample's tests, outside
    any transaction (no lock is held while it runs). `run(program) -> sandbox.Result` may be
    given by tests.
    """
    import dataclasses

    from curation.execution import program_for
    from curation.review import queue_kind

    if not queue_kind(assignment.queue).is_sample:
        raise ReviewRefused("Only samples' programs can be edited.")
    code = _edited_text(code, "program")
    if assignment.reviewer_id != by.pk:
        raise ReviewRefused("This item is held by another reviewer.")
    sample = assignment.sample
    program = dataclasses.replace(program_for(sample), code=code)
    result = _sandbox_run(sample.language, run)(program)
    return _keep_revision(assignment, by=by, runs={"edited_execution": (result, program)}, edited_code=code)


def _pair_program(pair, code: str):
    """A side of a pair runs with the pair's tests: its task's, else those its generator recorded."""
    from sandbox import Program

    if pair.task_id:
        return Program(code, tests=pair.task.tests, entry_point=pair.task.entry_point)
    meta = pair.metadata or {}
    return Program(code, tests=meta.get("tests"), entry_point=meta.get("entry_point"))


def do_edit_pair(assignment, *, chosen: str, rejected: str, by, run=None):
    """Keep an edited DPO pair as a new revision beside the untouched original: a Review
    (decision edit) with both programs and a run of each, which the hold remembers, so
    accepting the pair accepts this revision. A side that changed is re-run with the
    pair's tests; a side left as it was keeps its original run (it is run when it has none).
    Accepting then needs the chosen program to pass and the rejected one to still fail.

    Preconditions: `assignment` is `by`'s open hold on a waiting pair; both programs are
    non-empty and at most 100,000 characters, and at least one differs from the original.
    The programs run outside any transaction. `run(program) -> sandbox.Result` may be given
    by tests."""
    from curation.models import PreferencePair
    from curation.review import PAIRS

    if assignment.queue != PAIRS:
        raise ReviewRefused("Only DPO pairs are edited this way.")
    chosen, rejected = _edited_text(chosen, "chosen program"), _edited_text(rejected, "rejected program")
    if assignment.reviewer_id != by.pk:
        raise ReviewRefused("This item is held by another reviewer.")
    pair = PreferencePair.objects.select_related("language", "task", "chosen_execution", "rejected_execution") \
        .get(pk=assignment.item_id)
    if (chosen, rejected) == (pair.chosen, pair.rejected):
        raise ReviewRefused("The edit changes nothing: change the chosen or the rejected program first.")
    runs, sandbox_run = {}, None
    for name, code, original, original_run in (("edited_execution", chosen, pair.chosen, pair.chosen_execution),
                                               ("edited_rejected_execution", rejected, pair.rejected,
                                                pair.rejected_execution)):
        if code == original and original_run is not None:
            runs[name] = original_run
            continue
        sandbox_run = sandbox_run or _sandbox_run(pair.language, run)
        program = _pair_program(pair, code)
        runs[name] = (sandbox_run(program), program)
    return _keep_revision(assignment, by=by, runs=runs, edited_code=chosen, edited_rejected=rejected)


def do_edit_docqa(assignment, *, answer: str, example_code: str, by, run=None):
    """Keep an edited doc-QA item as a new revision beside the untouched original: a Review
    (decision edit) with the answer and the example program, which the hold remembers, so
    accepting the item accepts this revision. A changed example is re-run in the sandbox
    (an unchanged one keeps its original run); the answer is not run — accepting needs the
    example to run cleanly and the answer to cite sections the docs have.

    Preconditions: `assignment` is `by`'s open hold on a waiting doc-QA item; the answer is
    not empty, the example is not emptied when the item had one, each at most 100,000
    characters, and something changed. The example runs outside any transaction.
    `run(program) -> sandbox.Result` may be given by tests."""
    from sandbox import Program

    from curation.models import DocQAItem
    from curation.review import QA

    if assignment.queue != QA:
        raise ReviewRefused("Only doc-QA items are edited this way.")
    answer = _edited_text(answer, "answer")
    if assignment.reviewer_id != by.pk:
        raise ReviewRefused("This item is held by another reviewer.")
    item = DocQAItem.objects.select_related("language", "example_execution").get(pk=assignment.item_id)
    example_code = _edited_text(example_code, "example program", required=bool(item.example_code.strip()))
    if (answer, example_code) == (item.answer, item.example_code):
        raise ReviewRefused("The edit changes nothing: change the answer or the example first.")
    runs = {}
    if example_code.strip():
        if example_code == item.example_code and item.example_execution is not None:
            runs["edited_execution"] = item.example_execution
        else:
            program = Program(example_code)
            runs["edited_execution"] = (_sandbox_run(item.language, run)(program), program)
    return _keep_revision(assignment, by=by, runs=runs, edited_code=example_code, edited_answer=answer)


def do_discard_edit(assignment, *, by):
    """Drop `by`'s pending edit of the item they hold; the original is what they decide on again."""
    from curation.models import Review

    with transaction.atomic():
        qk, item, held = _lock_held(assignment, by)
        if not held.edit_id:
            raise ReviewRefused("There is no edit to discard.")
        Review.objects.create(**{qk.field: item}, reviewer=by, decision=Review.Decision.UNDO,
                              comment=f"discarded edit (review #{held.edit_id})")
        held.edit = None
        held.save(update_fields=["edit"])
    return held


def do_swap_pair(assignment, *, by):
    """Swap a DPO pair's chosen and rejected programs (and their executions); audited.

    Preconditions: `assignment` is `by`'s open hold on a waiting pair, with no pending edit
    (the edit was made of the sides as they were)."""
    from curation.models import PreferencePair, Review

    if assignment.queue != "pairs":
        raise ReviewRefused("Only DPO pairs can be swapped.")
    with transaction.atomic():
        _qk, locked, held = _lock_held(assignment, by)
        if held.edit_id:
            raise ReviewRefused("Discard your edit before swapping (or swap the programs in the edit).")
        pair = PreferencePair.objects.get(pk=locked.pk)
        pair.chosen, pair.rejected = pair.rejected, pair.chosen
        pair.chosen_execution_id, pair.rejected_execution_id = pair.rejected_execution_id, pair.chosen_execution_id
        pair.save(update_fields=["chosen", "rejected", "chosen_execution", "rejected_execution"])
        return Review.objects.create(pair=pair, reviewer=by, decision=Review.Decision.SWAP,
                                     comment="swapped chosen and rejected")


def do_adjudicate(item, decision: str, *, by, reason: str = "", comment: str = ""):
    """Settle a disputed item: the adjudicator's accept or reject is final.

    Preconditions: `by` is an admin; the item is disputed (its reviewers disagreed); a
    reject names a reason. The reviewers' own decisions stay as they were, for the
    agreement figures."""
    from curation.models import Review, ReviewStatus
    from curation.roles import ADMIN, has_role

    if not has_role(by, ADMIN):
        raise ReviewRefused("Only admins adjudicate.")
    if decision not in (Review.Decision.ACCEPT, Review.Decision.REJECT):
        raise ReviewRefused("Adjudication accepts or rejects.")
    if decision == Review.Decision.REJECT and not reason.strip():
        raise ReviewRefused("Pick a reason to reject.")
    field = {"Sample": "sample", "PreferencePair": "pair", "DocQAItem": "docqa"}[type(item).__name__]
    with transaction.atomic():
        item = type(item).objects.select_for_update().get(pk=item.pk)
        if item.status != ReviewStatus.DISPUTED:
            raise ReviewRefused("Only disputed items are adjudicated.")
        review = Review.objects.create(**{field: item}, reviewer=by, decision=decision, reason=reason.strip()[:100],
                                       comment=comment.strip(), adjudication=True)
        item.status = ReviewStatus.ACCEPTED if decision == Review.Decision.ACCEPT else ReviewStatus.REJECTED
        item.save(update_fields=["status"])
    return review


def do_bulk_review(language, queryset, decision: str, *, by, reason: str = "", filters: dict | None = None,
                   matched: int = 0, confirmed: bool = False):
    """Accept or reject every sample of `queryset` that awaits review, set-based: one
    UPDATE of the samples and one INSERT … SELECT of their audit Reviews (bulk=True), tied
    to a BulkAction that records who, the filter, how many and how long. Items already
    decided keep their decision. Returns the BulkAction.

    Preconditions: `queryset` is samples of `language` (the browse filter, confirmed by
    `by` on a page that showed `matched`); a reject names a reason; with `confirmed`, the
    set still holds exactly `matched` waiting samples when the UPDATE runs — otherwise
    BulkSetChanged and nothing is written (samples stored or decided since the page was
    drawn are never decided unseen).
    """
    import time

    from django.db import connection

    from curation.models import BulkAction, Review, ReviewStatus

    if decision not in (Review.Decision.ACCEPT, Review.Decision.REJECT):
        raise ReviewRefused("A bulk action accepts or rejects.")
    if decision == Review.Decision.REJECT and not reason.strip():
        raise ReviewRefused("Pick a reason to reject.")
    status = ReviewStatus.ACCEPTED if decision == Review.Decision.ACCEPT else ReviewStatus.REJECTED
    started = time.perf_counter()
    target = queryset.filter(language=language, status=ReviewStatus.PENDING).order_by()
    ids_sql, ids_params = target.values("pk").query.sql_with_params()
    with transaction.atomic():
        bulk = BulkAction.objects.create(language=language, decided_by=by, decision=decision, reason=reason.strip()[:100],
                                         filters=filters or {}, matched=matched)
        now = timezone.now()
        columns = ("sample_id, reviewer_id, decision, reason, edited_code, comment, seconds_spent, bulk, "
                   "bulk_action_id, adjudication, created_at")
        values = [by.pk, decision, bulk.reason, "", f"bulk {decision} #{bulk.pk}", 0.0, True, bulk.pk, False, now]
        placeholders = ", ".join(["%s"] * len(values))
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement: the filter itself as the UPDATE's WHERE (an `id IN (…)`
                # form made Postgres read the whole table for a hash join), the audit rows
                # from its RETURNING. Rows a reviewer decided a moment ago fail
                # `status = pending` on re-check and keep their decision.
                from django.db.models.sql.subqueries import UpdateQuery

                update = target.query.chain(UpdateQuery)
                update.add_update_values({"status": status})
                compiler = update.get_compiler(connection.alias)
                compiler.pre_sql_setup()
                update_sql, update_params = compiler.as_sql()
                cursor.execute(
                    f"WITH changed AS ({update_sql} RETURNING curation_sample.id) "
                    f"INSERT INTO curation_review ({columns}) SELECT id, {placeholders} FROM changed",
                    [*update_params, *values])
                changed = cursor.rowcount
            else:
                # SQLite: the transaction holds the database's write lock, so two steps are safe.
                cursor.execute(
                    f"INSERT INTO curation_review ({columns}) SELECT id, {placeholders} FROM curation_sample "
                    f"WHERE id IN ({ids_sql})", [*values, *ids_params])
                changed = cursor.rowcount
                cursor.execute("UPDATE curation_sample SET status = %s WHERE id IN "
                               "(SELECT sample_id FROM curation_review WHERE bulk_action_id = %s)", [status, bulk.pk])
        if confirmed and changed != matched:
            raise BulkSetChanged(matched, changed)  # rolls the UPDATE and the audit rows back
        bulk.changed = changed
        bulk.seconds = time.perf_counter() - started
        bulk.save(update_fields=["changed", "seconds"])
    return bulk


def do_configure_queue(language, kind: str, *, by, overlap: int, order: str, lease_minutes: int,
                       reject_reasons: list[str]):
    """Set how a queue hands items out. Lowering the overlap settles at once the items that
    already have enough decisions, so none is left waiting for a reviewer it no longer needs.

    Preconditions: `by` is an admin; 1 ≤ overlap ≤ 10; at least one reject reason; an order
    by score only for a queue of samples (pairs and doc-QA items have no score)."""
    from curation.models import Assignment, ReviewQueue, ReviewStatus
    from curation.review import queue_kind, resolution
    from curation.roles import ADMIN, has_role

    if not has_role(by, ADMIN):
        raise ReviewRefused("Only admins configure queues.")
    if not 1 <= overlap <= 10:
        raise ReviewRefused("Overlap is 1 to 10 reviewers per item.")
    reasons = [r.strip()[:100] for r in reject_reasons if r.strip()]
    if not reasons:
        raise ReviewRefused("Give at least one reason to reject.")
    qk = queue_kind(kind)
    if order not in ReviewQueue.Order.values or (not qk.is_sample and order != ReviewQueue.Order.OLDEST):
        raise ReviewRefused(f"{qk.label} are handed out oldest first: they carry no score to order by.")
    with transaction.atomic():
        queue, _ = ReviewQueue.objects.update_or_create(
            language=language, kind=kind, defaults=dict(overlap=overlap, order=order, lease_minutes=lease_minutes,
                                                        reject_reasons=reasons, updated_by=by))
        decided: dict[int, list[str]] = {}
        for item_id, label in Assignment.objects.filter(
                language=language, queue=kind, state=Assignment.State.DONE,
                **{f"{qk.field}__status": ReviewStatus.PENDING}).values_list(qk.column, "decision"):
            decided.setdefault(item_id, []).append(label)
        settled: dict[str, list[int]] = {}
        for item_id, labels in decided.items():
            status = resolution(labels, overlap)
            if status:
                settled.setdefault(status, []).append(item_id)
        for status, ids in settled.items():
            qk.model.objects.filter(pk__in=ids, status=ReviewStatus.PENDING).update(status=status)
    return queue


def do_freeze_dataset(language: Language, name: str, *, by=None, kinds: list[str] | None = None,
                      generators: list[str] | None = None, include_pairs: bool = True, include_docqa: bool = True,
                      mix: dict[str, float] | None = None, dev_percent: float = 5.0):
    """Freeze the language's accepted items matching the filter into the next version of
    dataset `name`, with its card and its exports (JSONL and Parquet per shape and split).

    Preconditions: at least one accepted item matches (an empty dataset is refused);
    0 <= dev_percent < 50; mix weights are >= 0. Items overlapping a held-out problem
    (the pack's dev/test tasks, imported benchmarks) are left out and listed on the card.
    The rows and the exports appear together or not at all: the export folder is renamed
    into place before the transaction commits, and removed if it rolls back.
    """
    import shutil

    from django.conf import settings

    from curation.contamination import ContaminationIndex, heldout_problems
    from curation.datasets import Item, freeze, write_exports
    from curation.models import Dataset, DatasetItem, DocQAItem, PreferencePair, ReviewStatus, Sample
    from curation.packs import read_pack

    if not 0 <= dev_percent < 50:
        raise ValueError("dev_percent must be between 0 and 50")
    if mix and any(float(w) < 0 for w in mix.values()):
        raise ValueError("mix weights must not be negative")
    samples = Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED).select_related("task")
    if kinds:
        samples = samples.filter(kind__in=kinds)
    if generators:
        samples = samples.filter(generator__in=generators)
    # An accepted edit is kept beside the original; the dataset takes the edited revision.
    from curation.revisions import accepted_revisions

    edited = accepted_revisions("sample", samples)
    items: list[Item] = []
    refs: dict[str, tuple[str, int]] = {}
    for s in samples.iterator(chunk_size=2000):
        meta = s.metadata or {}
        tests = s.task.tests if s.task_id else meta.get("tests")
        entry = s.task.entry_point if s.task_id else meta.get("entry_point")
        revision = edited.get(s.pk)
        items.append(Item(f"sample:{s.pk}", s.kind, s.content_hash, prompt=s.prompt,
                          code=revision.edited_code if revision else s.code,
                          answer=meta.get("explanation", ""), tests=tests, entry_point=entry, generator=s.generator,
                          verdict=s.verdict, licence=s.licence, model=s.model, files=meta.get("files"),
                          edited=revision is not None))
        refs[f"sample:{s.pk}"] = ("sample", s.pk)
    if include_pairs and (not kinds or "dpo" in kinds):
        pairs = PreferencePair.objects.filter(language=language, status=ReviewStatus.ACCEPTED)
        edited = accepted_revisions("pair", pairs)
        for p in pairs.iterator(chunk_size=2000):
            revision = edited.get(p.pk)
            items.append(Item(f"pair:{p.pk}", "dpo", p.content_hash, prompt=p.prompt,
                              code=revision.edited_code if revision else p.chosen,
                              rejected=revision.edited_rejected if revision else p.rejected,
                              generator=p.generator, verdict="ok", licence=p.licence, model=p.model,
                              edited=revision is not None))
            refs[f"pair:{p.pk}"] = ("pair", p.pk)
    if include_docqa and (not kinds or "docqa" in kinds):
        docqa = DocQAItem.objects.filter(language=language, status=ReviewStatus.ACCEPTED)
        edited = accepted_revisions("docqa", docqa)
        for q in docqa.iterator(chunk_size=2000):
            revision = edited.get(q.pk)
            items.append(Item(f"docqa:{q.pk}", "docqa", q.content_hash, prompt=q.question,
                              code=revision.edited_code if revision else q.example_code,
                              answer=revision.edited_answer if revision else q.answer,
                              generator=q.generator, licence=q.licence, model=q.model, edited=revision is not None))
            refs[f"docqa:{q.pk}"] = ("docqa", q.pk)
    if not items:
        raise ValueError(f"no accepted {language.name} items match this filter; review some first")

    content = read_pack(language.pack_path)
    benchmarks = [{"id": f"{t.source}:{t.name}", "prompt": t.prompt, "solution": t.reference}
                  for t in language.tasks.exclude(source="pack")]
    index = ContaminationIndex(heldout_problems(content, benchmarks))
    contaminated = {}
    for item in items:
        found = index.match(f"{item.prompt}\n{item.code}\n{item.answer}")
        if found:
            contaminated[item.ref] = found[0]
    frozen = freeze(items, language=language.slug, mix=mix, dev_percent=dev_percent, contaminated=contaminated)
    frozen.card["decontamination"]["heldout_problems"] = len(index)

    with transaction.atomic():
        latest = (Dataset.objects.select_for_update().filter(language=language, name=name)
                  .order_by("-version").first())
        version = (latest.version + 1) if latest else 1
        folder = settings.DATA_DIR / "datasets" / language.slug / f"{name}-v{version}"
        frozen.card["exports"] = write_exports(frozen, folder)
        try:
            dataset = Dataset.objects.create(
                language=language, name=name, version=version, created_by=by,
                filter={"kinds": kinds or [], "generators": generators or [], "include_pairs": include_pairs,
                        "include_docqa": include_docqa, "dev_percent": dev_percent},
                mix_weights=frozen.card["mix_weights"], card=frozen.card)
            rows = []
            for ref, split in frozen.splits.items():
                kind, pk = refs[ref]
                rows.append(DatasetItem(dataset=dataset, split=split, weight=frozen.weights[ref], **{kind + "_id": pk}))
            DatasetItem.objects.bulk_create(rows, batch_size=2000)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return dataset


def do_accept_by_rule(language: Language, *, by, rule: str = "passed in the sandbox"):
    """Accept everything awaiting review whose execution passed — what the demo does in
    place of reviewers, and says so: every decision is audited as a bulk action by `by`
    with the rule as its reason. Pairs and doc-QA items were kept only when their programs
    behaved, so they are accepted as they are. Returns counts per kind."""
    from curation.models import DocQAItem, PreferencePair, Review, ReviewStatus, Sample

    samples = Sample.objects.filter(language=language, status=ReviewStatus.PENDING, verdict="ok")
    bulk = do_bulk_review(language, samples, Review.Decision.ACCEPT, by=by, reason=f"demo rule: {rule}",
                          filters={"rule": rule}, matched=samples.count())
    counts = {"samples": bulk.changed}
    with transaction.atomic():
        for model, column, key in ((PreferencePair, "pair", "pairs"), (DocQAItem, "docqa", "docqa")):
            ids = list(model.objects.filter(language=language, status=ReviewStatus.PENDING).values_list("pk", flat=True))
            model.objects.filter(pk__in=ids).update(status=ReviewStatus.ACCEPTED)
            Review.objects.bulk_create([Review(reviewer=by, decision=Review.Decision.ACCEPT, bulk=True,
                                               reason=f"demo rule: {rule}", **{f"{column}_id": pk}) for pk in ids],
                                       batch_size=2000)
            counts[key] = len(ids)
    return counts
