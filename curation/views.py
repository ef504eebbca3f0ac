"""Pages of the curation hub: the home overview, languages, jobs, and the review
workflow — queues, the focus view, adjudication, agreement, browse with bulk actions and
the audit trail."""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Avg, Count, Q, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from curation import review as rv
from curation.actions import (BulkSetChanged, ReviewRefused, do_adjudicate, do_bulk_review, do_configure_queue, do_discard_edit,
                              do_edit_docqa, do_edit_pair, do_edit_sample, do_record_review, do_swap_pair,
                              do_undo_review)
from curation.agreement import interpret, queue_agreement
from curation.jobs import request_cancel
from curation.models import (Assignment, BulkAction, DocQAItem, Execution, Job, Language, Review, ReviewQueue,
                             ReviewStatus, Sample)
from curation.roles import ADMIN, PM, can_review, has_role, role_required


def _languages_for_user(request: HttpRequest):
    """PMs and admins see every language; a reviewer sees the ones they are a member of."""
    if has_role(request.user, PM):
        return Language.objects.all()
    return Language.objects.filter(members=request.user)


def _get_language_for_user(request: HttpRequest, slug: str) -> Language:
    return get_object_or_404(_languages_for_user(request), slug=slug)


def _get_job_for_user(request: HttpRequest, pk: int) -> Job:
    return get_object_or_404(Job.objects.select_related("language"), pk=pk)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    languages = _languages_for_user(request).annotate(
        n_sections=Count("sections", distinct=True), n_tasks=Count("tasks", distinct=True))
    # Capped per queue (a million-row COUNT per page view is not worth its milliseconds):
    # the sum reads "at least" when any queue passed the cap.
    per_queue = rv.pending_counts([lang.pk for lang in languages])
    pending: dict[int, tuple[int, bool]] = {}
    for (language_id, _queue), (n, more) in per_queue.items():
        total, capped = pending.get(language_id, (0, False))
        pending[language_id] = (total + n, capped or more)
    rows = [(lang, *pending.get(lang.pk, (0, False))) for lang in languages]
    jobs = Job.objects.select_related("language").order_by("-created_at")[:10] if has_role(request.user, PM) else []
    return render(request, "curation/home.html", {"rows": rows, "jobs": jobs})


@login_required
def language_detail(request: HttpRequest, slug: str) -> HttpResponse:
    language = _get_language_for_user(request, slug)
    sections = language.sections.only("anchor", "title", "order")
    tasks = language.tasks.only("name", "split", "category", "source").order_by("split", "name")
    return render(request, "curation/language.html", {"language": language, "sections": sections, "tasks": tasks})


@login_required
def doc_section(request: HttpRequest, slug: str, anchor: str) -> HttpResponse:
    language = _get_language_for_user(request, slug)
    section = get_object_or_404(language.sections, anchor="§" + anchor)
    return render(request, "curation/section.html", {"language": language, "section": section})


@role_required(PM)
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.select_related("language").order_by("-created_at")[:100]
    return render(request, "curation/jobs.html", {"jobs": jobs})


@role_required(PM)
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_job_for_user(request, pk)
    template = "curation/_job_status.html" if request.htmx else "curation/job.html"
    return render(request, template, {"job": job})


@require_POST
@role_required(ADMIN)
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_job_for_user(request, pk)
    request_cancel(job)
    return redirect("curation-view-job", pk=job.pk)


# ================================================================ review workflow
# Queues, the focus view (one item, keyboard-driven, next item swapped in by htmx),
# adjudication, agreement, browse with bulk actions, the audit trail.


PAGE_SIZE = 50
# The focus view shows "1,000+ left": an exact figure would cost a count per decision.
FOCUS_COUNT_CAP = 1_000


def _get_language_for_review(request: HttpRequest, slug: str) -> Language:
    """A language the user may review: PMs are refused (403) — they see queues, they do not
    review; a reviewer who is not a member of the language gets a 404, as if it did not exist."""
    # Roles are read from the user's groups several times per request (here, the template's
    # context processor): fetch them once.
    prefetch_related_objects([request.user], "groups")
    if not can_review(request.user):
        raise PermissionDenied("PMs see queues and dashboards but do not review.")
    if has_role(request.user, ADMIN):
        return get_object_or_404(Language, slug=slug)
    return get_object_or_404(Language.objects.filter(members=request.user), slug=slug)


def _get_queue_kind(kind: str) -> rv.QueueKind:
    try:
        return rv.queue_kind(kind)
    except KeyError:
        raise Http404("No such queue.") from None


def _get_item_for_user(language: Language, qk: rv.QueueKind, pk: int):
    """An item of this language's queue (404 for any other language's item)."""
    return get_object_or_404(rv.queue_items(language, qk), pk=pk)


def _open_desk(request: HttpRequest, slug: str, kind: str, *, item_id: int | None = None) -> rv.Desk:
    """The language, queue settings and hold a review request works on, after the checks of
    `_get_language_for_review` (PMs 403, a language the reviewer is not a member of 404) and
    an unknown queue (404); one query (see `rv.review_desk`)."""
    qk = rv.QUEUE_KINDS.get(kind)
    if qk is None:
        _get_language_for_review(request, slug)  # refuse as for any queue of the language first
        raise Http404("No such queue.")
    desk = rv.review_desk(request.user, slug, qk, item_id=item_id)
    _remember_groups(request.user, desk.groups)
    if not can_review(request.user):
        raise PermissionDenied("PMs see queues and dashboards but do not review.")
    if desk.language is None or not (desk.member or has_role(request.user, ADMIN)):
        raise Http404("No such language.")
    return desk


def _remember_groups(user, groups: list[tuple[int, str]]) -> None:
    """Give `user` its groups as `prefetch_related("groups")` would: the role checks and the
    templates' role context read them from there instead of querying each time."""
    from django.contrib.auth.models import Group

    prefetched = user.groups.all()
    prefetched._result_cache = [Group(id=pk, name=name) for pk, name in groups]
    prefetched._prefetch_done = True
    cache = getattr(user, "_prefetched_objects_cache", None)
    if cache is None:
        cache = user._prefetched_objects_cache = {}
    cache[user.groups.prefetch_cache_name] = prefetched


def _get_assignment_for_user(request: HttpRequest, language: Language, qk: rv.QueueKind, pk: int,
                             config: ReviewQueue, held: Assignment | None = None) -> Assignment:
    """The user's hold on item `pk` (`held`, when a Desk read it already). A hold the lease
    took back is claimed again when the item is still free; otherwise ReviewRefused says it
    went to a colleague."""
    if held is None:
        # Ids are all an action needs (it locks and re-reads the rows itself); a hold is only
        # ever made on an item of its own language and queue.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, state, edit_id, assigned_at FROM curation_assignment WHERE reviewer_id = %s "
                           f"AND language_id = %s AND queue = %s AND {qk.column} = %s",
                           [request.user.pk, language.pk, qk.key, pk])
            row = cursor.fetchone()
        if row is not None:
            held_pk, state, edit_id, assigned_at = row
            held = Assignment(pk=held_pk, reviewer=request.user, language=language, queue=qk.key, state=state,
                              edit_id=edit_id, assigned_at=assigned_at, **{qk.column: pk})
    if held is not None:
        return held
    item = _get_item_for_user(language, qk, pk)
    claimed = rv.claim(request.user, language, qk, config, item_id=item.pk)
    if claimed is None:
        raise ReviewRefused("This item was handed to a colleague while you were away.")
    return Assignment.objects.select_related(qk.field).get(pk=claimed.assignment_id)


# ---------------------------------------------------------------- forms

class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in ("accept", "reject", "skip")])
    reason = forms.CharField(required=False, max_length=100)
    rating = forms.IntegerField(required=False, min_value=1, max_value=5)
    comment = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, reasons=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.reasons = list(reasons)

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and data.get("reason") not in self.reasons:
            raise forms.ValidationError("Pick a reason to reject (keys 1–%d)." % len(self.reasons))
        return data


class QueueSettingsForm(forms.Form):
    overlap = forms.IntegerField(min_value=1, max_value=10, help_text="Reviewers who decide each item")
    order = forms.ChoiceField(choices=ReviewQueue.Order.choices)
    lease_minutes = forms.IntegerField(min_value=1, max_value=24 * 60,
                                       help_text="An item nobody decided returns to the pool after this")
    reject_reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), help_text="One per line; keys 1–9 pick")

    def __init__(self, *args, queue: rv.QueueKind, **kwargs):
        super().__init__(*args, **kwargs)
        # Only samples carry a score (perplexity / uncertainty); pairs and doc-QA items are
        # handed out oldest first whatever the setting says, so it is not offered there.
        if not queue.is_sample:
            self.fields["order"].choices = [(ReviewQueue.Order.OLDEST, ReviewQueue.Order.OLDEST.label)]


class AdjudicateForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "accept"), ("reject", "reject")])
    reason = forms.CharField(required=False, max_length=100)
    comment = forms.CharField(required=False, max_length=2000)


def _verdict_choices():
    return [("", "any verdict"), *Execution.Verdict.choices]


class BrowseForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search prompt and code")
    kind = forms.ChoiceField(required=False, choices=[("", "any kind"), *Sample.Kind.choices])
    verdict = forms.ChoiceField(required=False, choices=_verdict_choices)
    generator = forms.CharField(required=False, max_length=60)
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *ReviewStatus.choices])
    reviewer = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    error_type = forms.CharField(required=False, max_length=40)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, reviewers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].choices = [("", "any reviewer"), *[(u.pk, u.username) for u in reviewers]]

    def filters(self) -> dict:
        """The cleaned, non-empty filters; JSON-safe (dates as ISO strings) for the audit."""
        if not self.is_valid():
            return {}
        return {k: (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in self.cleaned_data.items() if v not in (None, "")}


class BulkForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "accept"), ("reject", "reject")])
    reason = forms.CharField(required=False, max_length=100)
    matched = forms.IntegerField(min_value=0)
    confirm = forms.BooleanField(required=True, label="I have checked the filter; apply it to every matching item")


def _browse_reviewers(language: Language):
    """Who can appear in the reviewer filter: the language's members and the admins."""
    User = get_user_model()
    return User.objects.filter(Q(languages=language) | Q(is_superuser=True)).distinct().order_by("username")


def _browse_filters(filters: dict) -> dict:
    """Back from the JSON-safe form to values browse_queryset takes."""
    out = dict(filters)
    for key in ("date_from", "date_to"):
        if isinstance(out.get(key), str):
            out[key] = dt.date.fromisoformat(out[key])
    return out


# ---------------------------------------------------------------- queues

@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    """Every queue of every language the user sees, with counts: waiting (capped),
    disputed, decided today; reviewers get a link into each queue."""
    languages = list(_languages_for_user(request))
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    ids = [lang.pk for lang in languages]
    configs = {(q.language_id, q.kind): q for q in ReviewQueue.objects.filter(language__in=ids)}
    disputed = rv.status_counts(ids, ReviewStatus.DISPUTED)
    decided_today = {(lang, queue): n for lang, queue, n in Assignment.objects.filter(
        language__in=ids, state=Assignment.State.DONE, decided_at__gte=today)
        .values_list("language", "queue").annotate(n=Count("id")).values_list("language", "queue", "n")}
    pending = rv.pending_counts(ids)
    tables = []
    for lang in languages:
        rows = []
        for key, qk in rv.QUEUE_KINDS.items():
            config = configs.get((lang.pk, key)) or ReviewQueue(language=lang, kind=key)
            n, more = pending.get((lang.pk, key), (0, False))
            rows.append({"queue": qk, "config": config, "pending": n, "more": more,
                         "disputed": disputed.get((lang.pk, key), 0), "today": decided_today.get((lang.pk, key), 0)})
        tables.append((lang, rows))
    return render(request, "curation/queues.html", {"tables": tables, "cap": rv.COUNT_CAP})


@role_required(ADMIN)
def queue_settings(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    language = _get_language_for_user(request, slug)
    qk = _get_queue_kind(kind)
    config = rv.queue_config(language, kind)
    if request.method == "POST":
        form = QueueSettingsForm(request.POST, queue=qk)
        if form.is_valid():
            data = form.cleaned_data
            try:
                do_configure_queue(language, kind, by=request.user, overlap=data["overlap"], order=data["order"],
                                   lease_minutes=data["lease_minutes"],
                                   reject_reasons=data["reject_reasons"].splitlines())
            except ReviewRefused as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("curation-list-queues")
    else:
        form = QueueSettingsForm(queue=qk, initial={"overlap": config.overlap, "order": config.order,
                                          "lease_minutes": config.lease_minutes,
                                          "reject_reasons": "\n".join(config.reject_reasons)})
    return render(request, "curation/queue_settings.html", {"language": language, "queue": qk, "form": form})


# ---------------------------------------------------------------- the focus view

def _render_focus(request: HttpRequest, language: Language, qk: rv.QueueKind, config: ReviewQueue,
                  assignment: Assignment | None, *, notice: str = "", error: str = "", status: int = 200,
                  form_errors=None) -> HttpResponse:
    progress = rv.queue_progress(request.user, language, qk, config.overlap, FOCUS_COUNT_CAP)
    context = {"language": language, "queue": qk, "config": config, "assignment": assignment,
               "notice": notice, "error": error, "form_errors": form_errors,
               "reasons_html": _reasons_html(tuple(config.reject_reasons)), "undo": progress.can_undo,
               "remaining": progress.waiting, "remaining_more": progress.more, "done_today": progress.done_today}
    context["undo_url"] = reverse("curation-undo-review", args=[language.slug, qk.key])
    if assignment is not None:
        item = assignment.item
        context["item"] = item
        # Reversed once here: the fragment uses each several times, after every decision.
        context["decide_url"] = reverse("curation-decide-item", args=[language.slug, qk.key, item.pk])
        context["edit_url"] = reverse("curation-edit-item", args=[language.slug, qk.key, item.pk])
        context["swap_url"] = reverse("curation-swap-pair", args=[language.slug, item.pk]) \
            if qk.key == rv.PAIRS else ""
        # Only the reviewer's own history: with several reviewers per item, seeing a
        # colleague's decision first would bias this one (and the agreement figures).
        context["history"] = [] if getattr(assignment, "fresh", False) else (
            Review.objects.filter(**{qk.field: item}, reviewer=request.user).select_related("reviewer")
            .order_by("-created_at")[:12])
        edit = assignment.edit if assignment.edit_id else None
        if qk.is_sample:
            context.update(_sample_context(item, assignment))
        elif qk.key == rv.PAIRS:
            context.update(_pair_context(qk, item, edit))
        else:
            context.update(_docqa_context(language, item, edit))
    if request.htmx:
        return render(request, "curation/_focus.html", context, status=status)
    context["guidelines_html"] = _guidelines_html(language)
    return render(request, "curation/review.html", context, status=status)


@lru_cache(maxsize=64)
def _reasons_html(reasons: tuple[str, ...]) -> str:
    """The reject panel's reason list, rendered once per queue's reasons: the loop was a
    tenth of the focus fragment's rendering, after every decision, for the same output."""
    return mark_safe(render_to_string("curation/_reasons.html",
                                      {"reasons": list(enumerate(reasons, start=1))}).strip())


_GUIDELINES: dict[tuple[int, int], str] = {}


def _guidelines_html(language: Language) -> str:
    """The language's guidelines as sanitised HTML, converted once per text: Markdown and
    nh3 on every full page load cost more than the rest of the page's rendering."""
    from curation.templatetags.scriptorium import markdown

    key = (language.pk, hash(language.guidelines))
    html = _GUIDELINES.get(key)
    if html is None:
        if len(_GUIDELINES) > 64:  # onboarding edits guidelines rarely; old texts go
            _GUIDELINES.clear()
        html = _GUIDELINES[key] = markdown(language.guidelines) if language.guidelines else ""
    return html


def _sample_context(sample: Sample, assignment: Assignment | None) -> dict:
    from curation.execution import program_for

    execution = getattr(assignment, "latest_execution", rv.UNKNOWN)
    if execution is rv.UNKNOWN:
        execution = sample.executions.order_by("-created_at").first()
    program = program_for(sample)
    context = {"execution": execution,
               "tests": json.dumps(program.tests, indent=1, ensure_ascii=False) if program.tests else "",
               "entry_point": program.entry_point or "",
               "flags": (sample.metadata or {}).get("flags") or [],
               "edit": None}
    edit = assignment.edit if assignment is not None and assignment.edit_id else None
    if edit is not None:
        context.update(edit=edit, edit_diff=rv.side_by_side(sample.code, edit.edited_code),
                       edit_problem=rv.sample_revision_problem(sample.verdict, edit))
    return context


def _pair_context(qk: rv.QueueKind, pair, edit: Review | None) -> dict:
    context = {"diff": rv.side_by_side(pair.chosen, pair.rejected), "edit": edit}
    if edit is not None:
        context.update(edit_chosen_diff=rv.side_by_side(pair.chosen, edit.edited_code),
                       edit_rejected_diff=rv.side_by_side(pair.rejected, edit.edited_rejected),
                       edit_problem=rv.revision_problem(qk, edit))
    return context


def _docqa_context(language: Language, item: DocQAItem, edit: Review | None = None) -> dict:
    cited = [a for a in (item.cited_anchors or []) if isinstance(a, str)]
    edit_cited = rv.cited_anchors(edit.edited_answer) if edit is not None else []
    # The sections the item cites, then those only the reviewer's edit cites: one query.
    found = {s.anchor: s for s in language.sections.filter(anchor__in=[*cited, *edit_cited])}
    shown = list(dict.fromkeys([*cited, *edit_cited]))

    def pieces(text: str) -> list:
        return [(piece, rv.anchor_id(anchor) if anchor in found else None)
                for piece, anchor in rv.split_citations(text)]

    context = {"answer_pieces": pieces(item.answer), "question_pieces": pieces(item.question),
               "sections": [(found[a], rv.anchor_id(a)) for a in shown if a in found],
               "missing_anchors": [a for a in cited if a not in found], "edit": edit}
    if edit is not None:
        context.update(edit_answer_pieces=pieces(edit.edited_answer),
                       edit_diff=rv.side_by_side(item.example_code, edit.edited_code),
                       edit_problem=rv.revision_problem(rv.QUEUE_KINDS[rv.QA], edit, known_anchors=set(found)))
    return context


@login_required
def review_next(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """The focus view: one item of the queue, the one this reviewer holds or the next free one."""
    desk = _open_desk(request, slug, kind)
    qk = rv.QUEUE_KINDS[kind]
    assignment = rv.next_item_for(request.user, desk.language, kind, config=desk.config, holds=desk.holds_other)
    return _render_focus(request, desk.language, qk, desk.config, assignment)


@require_POST
@login_required
def review_decide(request: HttpRequest, slug: str, kind: str, pk: int) -> HttpResponse:
    """Accept, reject (with a reason) or skip the item; htmx gets the next item in reply."""
    desk = _open_desk(request, slug, kind, item_id=pk)
    language, config, qk = desk.language, desk.config, rv.QUEUE_KINDS[kind]
    form = DecisionForm(request.POST, reasons=config.reject_reasons)
    notice = error = ""
    # Whether the reviewer holds another item of the queue once this one is decided: the
    # Desk looked (this item aside). Unknown after a refusal — the hold may still be open.
    holds = None
    try:
        assignment = _get_assignment_for_user(request, language, qk, pk, config, desk.held)
        if not form.is_valid():
            return _render_focus(request, language, qk, config, assignment,
                                 error=" ".join(m for msgs in form.errors.values() for m in msgs),
                                 status=200 if request.htmx else 400)
        data = form.cleaned_data
        do_record_review(assignment, data["decision"], by=request.user, reason=data.get("reason") or "",
                         rating=data.get("rating"), comment=data.get("comment") or "",
                         overlap=config.overlap)
        notice = {"accept": "Accepted", "reject": "Rejected", "skip": "Skipped"}[data["decision"]] + f" #{pk}."
        holds = desk.holds_other
    except ReviewRefused as exc:
        error = str(exc)
    if not request.htmx:
        return redirect("curation-review-next", slug=slug, kind=kind)
    return _render_focus(request, language, qk, config,
                         rv.next_item_for(request.user, language, kind, config=config, holds=holds),
                         notice=notice, error=error)


@require_POST
@login_required
def review_undo(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """Take back this reviewer's last decision in the queue and show that item again."""
    desk = _open_desk(request, slug, kind)
    language, config, qk = desk.language, desk.config, rv.QUEUE_KINDS[kind]
    target = rv.undo_target(request.user, language, kind)
    notice = error = ""
    if target is None:
        error = "Nothing to undo."
    else:
        try:
            do_undo_review(target, by=request.user)
            notice = f"Undone: #{target.item_id} is back."
        except ReviewRefused as exc:
            error = str(exc)
    if not request.htmx:
        return redirect("curation-review-next", slug=slug, kind=kind)
    return _render_focus(request, language, qk, config, rv.next_item_for(request.user, language, kind, config=config),
                         notice=notice, error=error)


@require_POST
@login_required
def review_edit(request: HttpRequest, slug: str, kind: str, pk: int) -> HttpResponse:
    """Keep an edit of the held item as a revision beside the original (or discard the edit):
    a sample's program, a DPO pair's chosen and rejected programs, a doc-QA item's answer and
    example. Every changed program is re-run in the sandbox first."""
    desk = _open_desk(request, slug, kind, item_id=pk)
    language, config, qk = desk.language, desk.config, rv.QUEUE_KINDS[kind]
    notice = error = ""
    try:
        assignment = _get_assignment_for_user(request, language, qk, pk, config, desk.held)
        if request.POST.get("discard"):
            do_discard_edit(assignment, by=request.user)
            notice = "Edit discarded."
        elif qk.is_sample:
            review = do_edit_sample(assignment, request.POST.get("code", ""), by=request.user)
            notice = f"Edit ran: {review.edited_execution.get_verdict_display()}."
        elif qk.key == rv.PAIRS:
            review = do_edit_pair(assignment, chosen=request.POST.get("chosen", ""),
                                  rejected=request.POST.get("rejected", ""), by=request.user)
            notice = (f"Edit ran: chosen {review.edited_execution.get_verdict_display()}, "
                      f"rejected {review.edited_rejected_execution.get_verdict_display()}.")
        else:
            review = do_edit_docqa(assignment, answer=request.POST.get("answer", ""),
                                   example_code=request.POST.get("code", ""), by=request.user)
            notice = (f"Edit kept; the example ran: {review.edited_execution.get_verdict_display()}."
                      if review.edited_execution else "Edit kept.")
    except ReviewRefused as exc:
        error = str(exc)
    if not request.htmx:
        return redirect("curation-review-next", slug=slug, kind=kind)
    return _render_focus(request, language, qk, config, rv.next_item_for(request.user, language, kind, config=config),
                         notice=notice, error=error)


@require_POST
@login_required
def pair_swap(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Swap a DPO pair's chosen and rejected sides."""
    desk = _open_desk(request, slug, rv.PAIRS, item_id=pk)
    language, config, qk = desk.language, desk.config, rv.QUEUE_KINDS[rv.PAIRS]
    notice = error = ""
    try:
        do_swap_pair(_get_assignment_for_user(request, language, qk, pk, config, desk.held), by=request.user)
        notice = "Swapped chosen and rejected."
    except ReviewRefused as exc:
        error = str(exc)
    if not request.htmx:
        return redirect("curation-review-next", slug=slug, kind=rv.PAIRS)
    return _render_focus(request, language, qk, config,
                         rv.next_item_for(request.user, language, rv.PAIRS, config=config), notice=notice, error=error)


# ---------------------------------------------------------------- adjudication and agreement

@role_required(ADMIN)
def dispute_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Items whose reviewers disagreed, each shown whole (a pair's two programs and their
    runs, a doc-QA item's answer and example) with every reviewer's decision and edit, for
    an admin to settle with the queue's own reject reasons."""
    language = _get_language_for_user(request, slug)
    runs = {rv.PAIRS: ("chosen_execution", "rejected_execution"), rv.QA: ("example_execution",)}
    rows = []
    for qk in rv.QUEUE_KINDS.values():
        items = list(rv.queue_items(language, qk).filter(status=ReviewStatus.DISPUTED)
                     .select_related(*runs.get(qk.key, ())).order_by("pk")[:100])
        if not items:
            continue
        decisions: dict[int, list] = {}
        for a in Assignment.objects.filter(**{f"{qk.field}__in": items}, state=Assignment.State.DONE) \
                .select_related("reviewer", "review").order_by("decided_at"):
            decisions.setdefault(a.item_id, []).append(a)
        reasons = rv.queue_config(language, qk.key).reject_reasons
        for item in items:
            extra = {"diff": rv.side_by_side(item.chosen, item.rejected)} if qk.key == rv.PAIRS else {}
            rows.append({"queue": qk, "item": item, "votes": decisions.get(item.pk, []), "reasons": reasons, **extra})
    return render(request, "curation/disputes.html", {"language": language, "rows": rows})


@require_POST
@role_required(ADMIN)
def adjudicate(request: HttpRequest, slug: str, kind: str, pk: int) -> HttpResponse:
    language = _get_language_for_user(request, slug)
    qk = _get_queue_kind(kind)
    item = _get_item_for_user(language, qk, pk)
    form = AdjudicateForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Invalid adjudication.", status=400)
    try:
        do_adjudicate(item, form.cleaned_data["decision"], by=request.user, reason=form.cleaned_data["reason"],
                      comment=form.cleaned_data["comment"])
    except ReviewRefused as exc:
        return HttpResponse(str(exc), status=409)
    return redirect("curation-list-disputes", slug=slug)


@role_required(PM)
def agreement(request: HttpRequest, slug: str) -> HttpResponse:
    """Agreement per queue (Fleiss' kappa over items several reviewers decided), per reviewer
    in each queue and per reviewer over all queues pooled (Cohen's kappa against each
    colleague on shared items, weighted)."""
    language = _get_language_for_user(request, slug)
    rows = list(Assignment.objects.filter(language=language, state=Assignment.State.DONE)
                .values_list("queue", "sample_id", "pair_id", "docqa_id", "reviewer__username", "decision"))
    by_queue: dict[str, list] = {}
    for queue, s, p, d, who, decision in rows:
        by_queue.setdefault(queue, []).append(((queue, s or p or d), who, decision))
    queues = [(rv.QUEUE_KINDS[q], figures, interpret(figures.fleiss))
              for q, figures in ((q, queue_agreement(triples)) for q, triples in sorted(by_queue.items()))
              if q in rv.QUEUE_KINDS]
    overall = queue_agreement([t for triples in by_queue.values() for t in triples])
    effort = {row["reviewer__username"]: row for row in Assignment.objects.filter(
        language=language, state__in=[Assignment.State.DONE, Assignment.State.SKIPPED])
        .values("reviewer__username").annotate(
            decided=Count("id", filter=Q(state=Assignment.State.DONE)),
            accepted=Count("id", filter=Q(decision="accept")),
            skipped=Count("id", filter=Q(state=Assignment.State.SKIPPED)),
            seconds=Avg("review__seconds_spent"))}
    reviewers = [(r, effort.get(r.reviewer, {}), interpret(r.kappa)) for r in overall.reviewers]
    # A reviewer can agree well on samples and poorly on pairs: the pooled figure hides it.
    queue_reviewers = [(qk, r, interpret(r.kappa)) for qk, figures, _word in queues for r in figures.reviewers]
    return render(request, "curation/agreement.html", {"language": language, "queues": queues, "overall": overall,
                                                       "overall_word": interpret(overall.fleiss),
                                                       "reviewers": reviewers, "queue_reviewers": queue_reviewers})


# ---------------------------------------------------------------- browse and bulk

def _error_types(language: Language) -> list[str]:
    from curation.execution import pack_for

    try:
        pack = pack_for(language)
        named = [name for name, _ in pack.errors.types]
    except Exception:  # noqa: BLE001 — a moved pack must not break browsing
        named = []
    return [*named, "syntax_error", "runtime_error"]


def _distinct_generators(language: Language) -> list[str]:
    """The generators of a language's samples. On Postgres a recursive skip-scan over the
    (language, generator) index: a dozen index probes instead of reading a million rows."""
    if connection.vendor != "postgresql":
        return list(Sample.objects.filter(language=language).values_list("generator", flat=True)
                    .distinct().order_by("generator"))
    sql = """
        WITH RECURSIVE g(name) AS (
            (SELECT generator FROM curation_sample WHERE language_id = %s ORDER BY generator LIMIT 1)
            UNION ALL
            SELECT (SELECT generator FROM curation_sample WHERE language_id = %s AND generator > g.name
                    ORDER BY generator LIMIT 1) FROM g WHERE g.name IS NOT NULL
        ) SELECT name FROM g WHERE name IS NOT NULL LIMIT 200"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [language.pk, language.pk])
        return [row[0] for row in cursor.fetchall()]


@login_required
def browse(request: HttpRequest, slug: str) -> HttpResponse:
    """Samples filtered by kind, verdict, generator, status, reviewer, error type, date and
    full-text search; newest first, paged by id (no OFFSET), counted up to a cap."""
    language = _get_language_for_user(request, slug)
    form = BrowseForm(request.GET or None, reviewers=_browse_reviewers(language))
    filters = form.filters() if request.GET else {}
    cleaned = _browse_filters(filters)
    qs = rv.browse_queryset(language, cleaned)
    searching = rv.search_tsquery(filters.get("q", "")) is not None
    before, after = request.GET.get("before", ""), request.GET.get("after", "")
    anchor = before or after
    position = (Sample.objects.filter(language=language, pk=int(anchor)).values_list("created_at", "pk").first()
                if anchor.isdigit() else None)
    newer = bool(position) and after.isdigit()
    with rv.bitmap_scans(searching or rv.selective_filter(cleaned)):
        count, more = rv.capped_count(qs, rv.BROWSE_COUNT_CAP)
    estimate = rv.estimate_rows(qs) if more else None
    page, more_beyond = [], False
    if count:
        page, more_beyond = rv.browse_page(language, cleaned, position=position, newer=newer, size=PAGE_SIZE,
                                           few=not more, columns=("id", "kind", "generator", "verdict", "status",
                                                                  "prompt", "created_at", "quality", "language_id"))
    has_newer, has_older = (more_beyond, True) if newer else (position is not None, more_beyond)
    query = {k: v for k, v in request.GET.items() if k in rv.BROWSE_FILTERS and v}
    context = {"language": language, "form": form, "page": page, "count": count, "more": more,
               "estimate": estimate if estimate and estimate > count else None,
               "has_older": has_older and bool(page), "has_newer": has_newer and bool(page),
               "first_id": page[0].pk if page else None, "last_id": page[-1].pk if page else None,
               "query": query, "querystring": _querystring(query), "generators": _distinct_generators(language),
               "error_types": _error_types(language), "may_bulk": has_role(request.user, ADMIN)}
    template = "curation/_browse_results.html" if request.htmx and not request.htmx.boosted else "curation/browse.html"
    return render(request, template, context)


def _querystring(query: dict) -> str:
    return urlencode(query)


def _waiting_count(qs) -> int:
    """Exact: the bulk pages confirm a number, and applying checks it is still that number."""
    return qs.filter(status=ReviewStatus.PENDING).count()


@role_required(ADMIN)
def bulk_review(request: HttpRequest, slug: str) -> HttpResponse:
    """Accept or reject the whole filtered set (not just a page): GET shows what will
    change and asks to confirm; POST applies it set-based, and the action keeps it only
    when it changed exactly as many samples as the confirmation showed — otherwise the set
    changed meanwhile (new samples, colleagues' decisions), nothing is written and the
    confirmation is shown again with the new count. Admins only: one click decides up to hundreds of thousands
    of items."""
    language = _get_language_for_user(request, slug)
    source = request.POST if request.method == "POST" else request.GET
    form = BrowseForm(source, reviewers=_browse_reviewers(language))
    filters = form.filters()
    qs = rv.browse_queryset(language, _browse_filters(filters))
    reasons = rv.queue_config(language, filters.get("kind") or "syntax").reject_reasons
    waiting = None
    if request.method == "POST":
        bulk_form = BulkForm(request.POST)
        if bulk_form.is_valid():
            data = bulk_form.cleaned_data
            try:
                bulk = do_bulk_review(language, qs, data["decision"], by=request.user, reason=data["reason"],
                                      filters=filters, matched=data["matched"], confirmed=True)
            except BulkSetChanged as exc:
                bulk_form.add_error(None, str(exc))
                waiting = exc.found
            except ReviewRefused as exc:
                bulk_form.add_error("reason", str(exc))
            else:
                return render(request, "curation/bulk_done.html", {"language": language, "bulk": bulk,
                                                                   "querystring": _querystring(filters)})
    else:
        bulk_form = BulkForm(initial={"decision": request.GET.get("decision", "accept")})
    if waiting is None:
        waiting = _waiting_count(qs)
    return render(request, "curation/bulk.html", {
        "language": language, "filters": filters, "hidden": {k: v for k, v in filters.items()},
        "waiting": waiting, "bulk_form": bulk_form, "reasons": reasons,
        "decision": bulk_form["decision"].value() or "accept", "querystring": _querystring(filters)})


# ---------------------------------------------------------------- audit and detail

@role_required(PM)
def audit_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Every decision: who, when, what, on which item, how long it took; newest first."""
    language = _get_language_for_user(request, slug)
    reviews = Review.objects.filter(Q(sample__language=language) | Q(pair__language=language)
                                    | Q(docqa__language=language)).select_related("reviewer", "bulk_action")
    who, decision = request.GET.get("reviewer", ""), request.GET.get("decision", "")
    if who.isdigit():
        reviews = reviews.filter(reviewer_id=int(who))
    if decision in Review.Decision.values:
        reviews = reviews.filter(decision=decision)
    before = request.GET.get("before", "")
    if before.isdigit():
        reviews = reviews.filter(pk__lt=int(before))
    page = list(reviews.order_by("-pk")[:PAGE_SIZE + 1])
    query = {k: v for k, v in (("reviewer", who), ("decision", decision)) if v}
    return render(request, "curation/audit.html", {
        "language": language, "page": page[:PAGE_SIZE], "has_older": len(page) > PAGE_SIZE,
        "last_id": page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None, "querystring": _querystring(query),
        "reviewers": _browse_reviewers(language), "decisions": Review.Decision.values, "who": who,
        "decision": decision, "bulks": BulkAction.objects.filter(language=language).select_related("decided_by")[:20]})


@login_required
def sample_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One sample, read-only: code, every execution, provenance, its whole review history."""
    language = _get_language_for_user(request, slug)
    sample = get_object_or_404(Sample.objects.select_related("task", "parent", "job"), language=language, pk=pk)
    context = {"language": language, "item": sample, **_sample_context(sample, None),
               "executions": sample.executions.order_by("-created_at")[:10],
               "history": Review.objects.filter(sample=sample).select_related("reviewer", "edited_execution")
               .order_by("-created_at"),
               "review_url": reverse("curation-review-next", args=[slug, sample.kind]) if can_review(request.user)
               else ""}
    return render(request, "curation/sample.html", context)
