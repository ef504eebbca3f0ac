"""Evaluation pages for PMs — dashboard (trends, leaderboard, uplift, legend), runs with
their drill-down, comparisons, suites, the assistant playground — and the JSON API
(session auth with CSRF, like the pages)."""
from __future__ import annotations

import json

from django import forms
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from curation.models import Language
from curation.roles import ADMIN, PM, has_role, role_required
from evaluation import dashboard
from evaluation.actions import (MAX_N, MAX_NEW_TOKENS, MAX_REPAIR_ROUNDS, EvaluationRefused, do_cancel_run,
                                do_import_multiple, do_start_run, do_start_uplift, do_sync_pack_suites)
from evaluation.models import EvalRun, EvalSample, Suite, SuiteProblem
from training.models import Checkpoint

RUNS_PER_PAGE = 50


# ---------------------------------------------------------------- fetching for the user
# PMs and admins see every language's evaluations (role_required(PM) guards each view).

def _get_language_for_user(request: HttpRequest, slug: str | None) -> Language | None:
    if slug:
        return get_object_or_404(Language, slug=slug)
    return Language.objects.order_by("name").first()


def _get_run_for_user(request: HttpRequest, pk: int) -> EvalRun:
    return get_object_or_404(EvalRun.objects.select_related("suite", "suite__language", "checkpoint", "job",
                                                            "baseline"), pk=pk)


def _get_checkpoint_for_user(request: HttpRequest, pk) -> Checkpoint:
    return get_object_or_404(Checkpoint.objects.select_related("language"), pk=pk)


def _get_suite_for_user(request: HttpRequest, language: Language | None, name: str) -> Suite:
    suites = Suite.objects.select_related("language")
    return get_object_or_404(suites.filter(language=language) if language else suites, name=name)


# ---------------------------------------------------------------- forms

class RunForm(forms.Form):
    MODES = [("plain", "Plain generation"), ("assistant", "Assistant only"),
             ("uplift", "Uplift: plain and assistant, same settings")]

    checkpoint = forms.ModelChoiceField(queryset=Checkpoint.objects.select_related("language").order_by("-created_at"))
    suite = forms.ModelChoiceField(queryset=Suite.objects.select_related("language").order_by("language", "name"))
    mode = forms.ChoiceField(choices=MODES, initial="plain")
    n = forms.IntegerField(min_value=1, max_value=MAX_N, required=False, help_text="Samples per problem (suite default if empty)")
    temperature = forms.FloatField(min_value=0, max_value=2, required=False)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=MAX_NEW_TOKENS, required=False)
    limit = forms.IntegerField(min_value=1, required=False, help_text="Only the first N problems (a quick check)")
    repair_rounds = forms.IntegerField(min_value=0, max_value=MAX_REPAIR_ROUNDS, initial=2,
                                       help_text="Assistant: repair rounds fed the real error")
    few_shot = forms.IntegerField(min_value=0, max_value=8, initial=2, help_text="Assistant: similar accepted samples shown")
    retrieval = forms.BooleanField(required=False, initial=True, help_text="Assistant: retrieve doc sections")


def _start_from(data: dict, *, by, trigger: str) -> list[EvalRun]:
    """Start what a RunForm (or the API) asked for; EvaluationRefused explains a refusal."""
    options = {k: data.get(k) for k in ("n", "temperature", "max_new_tokens", "limit") if data.get(k) is not None}
    mode = data.get("mode") or "plain"
    assistant = {"repair_rounds": int(data.get("repair_rounds", 2) if data.get("repair_rounds") is not None else 2),
                 "few_shot": int(data.get("few_shot", 2) if data.get("few_shot") is not None else 2),
                 "retrieval": bool(data.get("retrieval", True))}
    checkpoint, suite = data["checkpoint"], data["suite"]
    if mode == "uplift":
        return list(do_start_uplift(checkpoint, suite, by=by, trigger=trigger, **assistant, **options))
    if mode == "assistant":
        return [do_start_run(checkpoint, suite, by=by, trigger=trigger, mode="assistant", **assistant, **options)]
    if mode != "plain":
        raise EvaluationRefused("mode must be plain, assistant or uplift")
    return [do_start_run(checkpoint, suite, by=by, trigger=trigger, **options)]


class PlaygroundForm(forms.Form):
    checkpoint = forms.ModelChoiceField(queryset=Checkpoint.objects.select_related("language").order_by("-created_at"))
    prompt = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 6}))
    retrieval = forms.BooleanField(required=False, initial=True)
    repair_rounds = forms.IntegerField(min_value=0, max_value=MAX_REPAIR_ROUNDS, initial=2)
    few_shot = forms.IntegerField(min_value=0, max_value=8, initial=2)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.2)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=1024, initial=256)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="MultiPL-E JSON Lines (evaluation only)")
    name = forms.SlugField(required=False, help_text="Suite name (the file's name without .jsonl if empty)")


# ---------------------------------------------------------------- dashboard

@role_required(PM)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    language = _get_language_for_user(request, request.GET.get("language"))
    context = {"languages": Language.objects.order_by("name"), "language": language, "legend": dashboard.LEGEND}
    if language is not None:
        suites, rows = dashboard.leaderboard(language)
        context.update(
            trends=dashboard.trends(language), suites=suites, leaderboard=rows, uplifts=dashboard.uplifts(language),
            recent=EvalRun.objects.filter(suite__language=language).select_related("suite", "checkpoint")
            .order_by("-created_at")[:10])
    return render(request, "evaluation/dashboard.html", context)


# ---------------------------------------------------------------- runs

@role_required(PM)
def run_list(request: HttpRequest) -> HttpResponse:
    runs = EvalRun.objects.select_related("suite", "checkpoint", "suite__language").order_by("-created_at")
    suite = request.GET.get("suite")
    checkpoint = request.GET.get("checkpoint")
    if suite:
        runs = runs.filter(suite__name=suite)
    if checkpoint and checkpoint.isdigit():
        runs = runs.filter(checkpoint_id=int(checkpoint))
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "evaluation/runs.html", {"page": page, "suite": suite or "", "checkpoint": checkpoint or ""})


@role_required(PM)
def run_start(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("checkpoint", "").isdigit():
        initial["checkpoint"] = int(request.GET["checkpoint"])
    form = RunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            runs = _start_from(form.cleaned_data, by=request.user, trigger="ui")
        except EvaluationRefused as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("evaluation-view-run", pk=runs[-1].pk)
    return render(request, "evaluation/start.html", {"form": form})


@role_required(PM)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    if request.htmx:
        response = render(request, "evaluation/_run_status.html", {"run": run, "refresh": True})
        if run.is_finished:
            # The results are a whole page of tables: reload it once the run is done.
            response["HX-Refresh"] = "true"
        return response
    others = (EvalRun.objects.filter(suite=run.suite, status=EvalRun.Status.FINISHED).exclude(pk=run.pk)
              .select_related("checkpoint").order_by("-created_at")[:30])
    return render(request, "evaluation/run.html", {
        "run": run, "problems": dashboard.problem_summaries(run) if run.status == EvalRun.Status.FINISHED else [],
        "others": others, "per_sample_seconds": dashboard.per_sample_seconds(run),
        "uplift_runs": run.uplift_runs.select_related("checkpoint").all(),
    })


@require_POST
@role_required(PM)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    do_cancel_run(run)
    return redirect("evaluation-view-run", pk=run.pk)


@role_required(PM)
def run_problem(request: HttpRequest, pk: int, problem_pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    problem = get_object_or_404(SuiteProblem, pk=problem_pk, suite=run.suite)
    samples = EvalSample.objects.filter(run=run, problem=problem).order_by("sample")
    data = problem.data
    return render(request, "evaluation/problem.html", {
        "run": run, "problem": problem, "samples": samples, "language": run.suite.language.slug,
        "tests": json.dumps(data.get("tests"), indent=1) if data.get("tests") is not None else data.get("test_code"),
        "data": data,
    })


@role_required(PM)
def compare(request: HttpRequest) -> HttpResponse:
    from evaluation.compare import compare_runs

    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    context: dict = {"runs": EvalRun.objects.filter(status=EvalRun.Status.FINISHED)
                     .select_related("suite", "checkpoint").order_by("-created_at")[:200],
                     "a": a, "b": b}
    if a.isdigit() and b.isdigit():
        before, after = _get_run_for_user(request, int(a)), _get_run_for_user(request, int(b))
        comparison = compare_runs(dashboard.judged(before), dashboard.judged(after))
        keys = {row.problem_id for row in comparison.rows}
        problem_ids = dict(SuiteProblem.objects.filter(suite=after.suite, key__in=keys).values_list("key", "pk"))
        flips = [r for r in comparison.rows if r.change in ("pass→fail", "fail→pass")]
        context.update(before=before, after=after, comparison=comparison, flips=flips, problem_ids=problem_ids,
                       same_suite=before.suite_id == after.suite_id)
    return render(request, "evaluation/compare.html", context)


# ---------------------------------------------------------------- suites

@role_required(PM)
def suite_list(request: HttpRequest) -> HttpResponse:
    from django.db.models import Count, Q

    suites = (Suite.objects.select_related("language")
              .annotate(n_problems=Count("problems", filter=Q(problems__active=True)), n_runs=Count("runs", distinct=True))
              .order_by("language__name", "name"))
    return render(request, "evaluation/suites.html", {
        "suites": suites, "form": ImportForm(), "languages": Language.objects.order_by("name"),
        "can_manage": has_role(request.user, ADMIN)})


@require_POST
@role_required(ADMIN)
def suites_sync(request: HttpRequest, slug: str) -> HttpResponse:
    language = get_object_or_404(Language, slug=slug)
    do_sync_pack_suites(language)
    return redirect("evaluation-list-suites")


@require_POST
@role_required(ADMIN)
def suite_import(request: HttpRequest, slug: str) -> HttpResponse:
    import tempfile
    from pathlib import Path

    from evaluation.multiple import MAX_FILE_BYTES, MultipleFormatError

    language = get_object_or_404(Language, slug=slug)
    form = ImportForm(request.POST, request.FILES)
    error, status = "", 400
    if form.is_valid():
        upload = form.cleaned_data["file"]
        name = form.cleaned_data["name"] or Path(upload.name).stem
        # Django streamed a large upload to a temporary file; refuse it by its size before
        # copying or reading a byte of it.
        if upload.size > MAX_FILE_BYTES:
            error, status = f"{upload.name}: file is {upload.size} bytes, over the limit of {MAX_FILE_BYTES}", 413
    else:
        error = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    if not error:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.jsonl"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            try:
                do_import_multiple(language, path, name=name)
            except (MultipleFormatError, EvaluationRefused) as exc:
                error = str(exc).replace(str(path), upload.name)
    if error:
        suites = Suite.objects.select_related("language").order_by("language__name", "name")
        return render(request, "evaluation/suites.html", {"suites": suites, "form": form, "error": error,
                                                          "languages": Language.objects.order_by("name"),
                                                          "can_manage": True}, status=status)
    return redirect("evaluation-list-suites")


# ---------------------------------------------------------------- the assistant playground

def _assistant_answer(checkpoint: Checkpoint, prompt: str, *, retrieval: bool, repair_rounds: int, few_shot: int,
                      temperature: float, max_new_tokens: int):
    from curation.packs import read_pack
    from evaluation.assistant import Assistant, accepted_shots
    from evaluation.runner import PreparedBackend, backend_for, resolve_prompt_format

    content = read_pack(checkpoint.language.pack_path)
    raw = backend_for(checkpoint)
    backend = PreparedBackend(raw, chat=resolve_prompt_format("auto", checkpoint, "instruction", raw) == "chat")
    helper = Assistant(content, shots=accepted_shots(checkpoint.language) if few_shot else [], retrieval=retrieval,
                       few_shot=few_shot, repair_rounds=repair_rounds)
    return helper.answer(backend, prompt, temperature=temperature, max_new_tokens=max_new_tokens)


@role_required(PM)
def playground(request: HttpRequest) -> HttpResponse:
    form = PlaygroundForm(request.POST or None)
    answer = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        answer = _assistant_answer(data["checkpoint"], data["prompt"], retrieval=data["retrieval"],
                                   repair_rounds=data["repair_rounds"], few_shot=data["few_shot"],
                                   temperature=data["temperature"], max_new_tokens=data["max_new_tokens"])
        if request.htmx:
            return render(request, "evaluation/_answer.html", {"answer": answer, "checkpoint": data["checkpoint"]})
    checkpoint = form.cleaned_data.get("checkpoint") if answer is not None else None
    return render(request, "evaluation/playground.html", {"form": form, "answer": answer, "checkpoint": checkpoint})


# ---------------------------------------------------------------- JSON API

def _api_role(request: HttpRequest) -> None:
    if not request.user.is_authenticated:
        raise PermissionDenied("log in first")
    if not has_role(request.user, PM):
        raise PermissionDenied("the evaluation API needs the pm role")


def _json_body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvaluationRefused(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EvaluationRefused("the body must be a JSON object")
    return data


def run_json(run: EvalRun, request: HttpRequest | None = None) -> dict:
    url = reverse("evaluation-view-run", args=[run.pk])
    return {
        "id": run.pk, "url": request.build_absolute_uri(url) if request else url,
        "checkpoint": {"id": run.checkpoint_id, "name": run.checkpoint.name},
        "suite": run.suite.name, "mode": run.mode, "status": run.status, "valid": run.valid,
        "invalid_reason": run.invalid_reason, "trigger": run.trigger, "baseline": run.baseline_id,
        "job": run.job_id, "settings": run.settings, "self_test": run.self_test, "metrics": run.metrics,
        "headline": run.headline, "problems": run.problem_count, "samples": run.sample_count,
        "generation_seconds": run.generation_seconds, "seconds": run.seconds,
        "created_at": run.created_at.isoformat(), "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _api_errors(view):
    from functools import wraps

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            _api_role(request)
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return JsonResponse({"error": str(exc) or "forbidden"}, status=403 if request.user.is_authenticated else 401)
        except EvaluationRefused as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        except RequestDataTooBig:
            # Django refuses from the Content-Length, before reading the body.
            return JsonResponse({"error": f"the request body is over the limit of "
                                          f"{django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"}, status=413)

    return wrapper


@require_http_methods(["GET", "POST"])
@_api_errors
def api_runs(request: HttpRequest) -> JsonResponse:
    """GET: recent runs (?suite=&checkpoint=). POST {"checkpoint": id, "suite": name, "n", "temperature",
    "max_new_tokens", "limit", "mode": plain|assistant|uplift, "repair_rounds", "few_shot", "retrieval"}:
    starts runs; 201 with them."""
    if request.method == "GET":
        runs = EvalRun.objects.select_related("suite", "checkpoint").order_by("-created_at")
        if request.GET.get("suite"):
            runs = runs.filter(suite__name=request.GET["suite"])
        if request.GET.get("checkpoint", "").isdigit():
            runs = runs.filter(checkpoint_id=int(request.GET["checkpoint"]))
        return JsonResponse({"runs": [run_json(r, request) for r in runs[:100]]})
    data = _json_body(request)
    if "checkpoint" not in data or "suite" not in data:
        raise EvaluationRefused("checkpoint (an id) and suite (a name) are required")
    checkpoint = _get_checkpoint_for_user(request, data["checkpoint"]) if str(data["checkpoint"]).isdigit() else None
    if checkpoint is None:
        raise EvaluationRefused("checkpoint must be an id")
    suite = _get_suite_for_user(request, checkpoint.language, str(data["suite"]))
    for key in ("n", "max_new_tokens", "limit", "repair_rounds", "few_shot"):
        if data.get(key) is not None and not isinstance(data[key], int):
            raise EvaluationRefused(f"{key} must be an integer")
    if data.get("temperature") is not None and not isinstance(data["temperature"], (int, float)):
        raise EvaluationRefused("temperature must be a number")
    runs = _start_from({**data, "checkpoint": checkpoint, "suite": suite}, by=request.user, trigger="api")
    return JsonResponse({"runs": [run_json(r, request) for r in runs]}, status=201)


@require_http_methods(["GET"])
@_api_errors
def api_run(request: HttpRequest, pk: int) -> JsonResponse:
    run = _get_run_for_user(request, pk)
    data = run_json(run, request)
    data["clusters"] = run.clusters
    return JsonResponse(data)


@require_http_methods(["POST"])
@_api_errors
def api_assistant(request: HttpRequest) -> JsonResponse:
    """POST {"checkpoint": id, "prompt": text, "retrieval", "repair_rounds", "few_shot", "temperature",
    "max_new_tokens"} → the answer, its trace and its anchors."""
    data = _json_body(request)
    form = PlaygroundForm({"retrieval": True, "repair_rounds": 2, "few_shot": 2, "temperature": 0.2,
                           "max_new_tokens": 256, **{k: v for k, v in data.items() if v is not None}})
    if not form.is_valid():
        raise EvaluationRefused("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    d = form.cleaned_data
    answer = _assistant_answer(d["checkpoint"], d["prompt"], retrieval=d["retrieval"], repair_rounds=d["repair_rounds"],
                               few_shot=d["few_shot"], temperature=d["temperature"], max_new_tokens=d["max_new_tokens"])
    return JsonResponse({
        "answer": answer.text, "code": answer.code, "verdict": answer.verdict, "passed": answer.passed,
        "error_message": answer.error_message, "anchors": list(answer.anchors), "cited": list(answer.cited),
        "shots": list(answer.shots), "trace": [r.to_dict() for r in answer.rounds],
    })
