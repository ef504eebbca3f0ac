"""Datasets and training from the browser: freeze, start a job with a config preview,
watch its loss fall, cancel, resume; a JSON API for the same."""
from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.actions import do_freeze_dataset
from curation.models import Dataset, Job, Language
from curation.roles import ADMIN, PM, has_role, role_required
from training.actions import SHAPES, do_resume_training, do_start_training
from training.config import ConfigError, TrainingConfig
from training.models import Checkpoint, TrainingPoint

METHODS = [(m, m.upper()) for m in SHAPES]
ADAPTERS = [("lora", "LoRA"), ("qlora", "QLoRA (GPU)"), ("full", "Full fine-tuning")]
# Form fields that are TrainingConfig fields; empty ones are left to the config's defaults.
CONFIG_FIELDS = ("adapter", "learning_rate", "epochs", "max_steps", "batch_size", "gradient_accumulation",
                 "max_length", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "dpo_beta",
                 "grpo_generations", "seed", "save_steps", "logging_steps")


def _get_language(slug: str) -> Language:
    return get_object_or_404(Language, slug=slug)


def _get_training_job(pk: int) -> Job:
    return get_object_or_404(Job.objects.select_related("language"), pk=pk,
                             kind__in=[Job.Kind.TRAINING, Job.Kind.SELF_TRAINING])


class FreezeForm(forms.Form):
    name = forms.SlugField(initial="main")
    kinds = forms.CharField(required=False, help_text="Comma-separated sample kinds; empty for all")
    dev_percent = forms.FloatField(min_value=0, max_value=49, initial=5.0)
    mix = forms.CharField(required=False, initial=json.dumps({"semantic": 3.0, "syntax": 1.0, "transpile": 2.0,
                                                              "errfix": 1.5, "docqa": 1.0}),
                          help_text="Mix weights per kind, a JSON object")

    def clean_mix(self) -> dict:
        try:
            value = json.loads(self.cleaned_data.get("mix") or "{}")
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg}")
        if not isinstance(value, dict) or not all(isinstance(v, (int, float)) for v in value.values()):
            raise forms.ValidationError('must be an object of numbers, like {"semantic": 3.0}')
        return value


class TrainingForm(forms.Form):
    method = forms.ChoiceField(choices=METHODS)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    base = forms.ChoiceField(help_text="The model to start from")
    adapter = forms.ChoiceField(choices=ADAPTERS, initial="lora")
    learning_rate = forms.FloatField(initial=2e-4)
    epochs = forms.FloatField(required=False, initial=1.0)
    max_steps = forms.IntegerField(required=False, help_text="Wins over epochs when set")
    batch_size = forms.IntegerField(initial=8)
    gradient_accumulation = forms.IntegerField(initial=1)
    max_length = forms.IntegerField(initial=512)
    lora_r = forms.IntegerField(required=False, initial=16)
    lora_alpha = forms.FloatField(required=False, initial=32)
    lora_dropout = forms.FloatField(required=False, initial=0.05)
    lora_targets = forms.CharField(required=False, initial="all-linear")
    dpo_beta = forms.FloatField(required=False, help_text="DPO only")
    grpo_generations = forms.IntegerField(required=False, help_text="GRPO only")
    seed = forms.IntegerField(initial=0)
    save_steps = forms.IntegerField(initial=50)
    logging_steps = forms.IntegerField(initial=5)

    def __init__(self, *args, language: Language, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(language=language).order_by("name", "-version")
        bases = [("tiny", "Tiny base built from the pack")]
        if settings.BASE_MODEL:
            bases.append((settings.BASE_MODEL, f"BASE_MODEL ({settings.BASE_MODEL})"))
        bases += [(str(c.pk), f"#{c.pk} {c.name} ({c.method})") for c in Checkpoint.objects.filter(language=language)[:50]]
        self.fields["base"].choices = bases

    def config(self) -> dict:
        data = self.cleaned_data
        config = {k: data[k] for k in CONFIG_FIELDS if data.get(k) not in (None, "")}
        if config.get("adapter") == "full":
            for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"):
                config.pop(key, None)
        if data["method"] != "dpo":
            config.pop("dpo_beta", None)
        if data["method"] != "grpo":
            config.pop("grpo_generations", None)
        return config


@role_required(PM)
def dataset_list(request: HttpRequest, slug: str) -> HttpResponse:
    language = _get_language(slug)
    form = FreezeForm(request.POST or None)
    error = ""
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            return HttpResponse("Freezing a dataset needs the admin role.", status=403)
        if form.is_valid():
            data = form.cleaned_data
            kinds = [k.strip() for k in data["kinds"].split(",") if k.strip()]
            try:
                dataset = do_freeze_dataset(language, data["name"], by=request.user, kinds=kinds or None,
                                            mix=data["mix"], dev_percent=data["dev_percent"])
            except ValueError as exc:
                error = str(exc)
            else:
                return redirect("training-view-dataset", pk=dataset.pk)
    datasets = Dataset.objects.filter(language=language).order_by("name", "-version")
    return render(request, "training/datasets.html", {"language": language, "form": form, "datasets": datasets,
                                                      "error": error})


@role_required(PM)
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset.objects.select_related("language"), pk=pk)
    return render(request, "training/dataset.html", {"dataset": dataset, "card": dataset.card})


def _start_from_form(request: HttpRequest, language: Language, form: TrainingForm) -> Job:
    data = form.cleaned_data
    return do_start_training(language, method=data["method"], dataset=data["dataset"], base=data["base"],
                             config=form.config(), by=request.user)


@role_required(ADMIN)
def start(request: HttpRequest, slug: str) -> HttpResponse:
    language = _get_language(slug)
    form = TrainingForm(request.POST or None, language=language)
    errors = {}
    if request.method == "POST" and form.is_valid():
        try:
            job = _start_from_form(request, language, form)
        except ConfigError as exc:
            errors = exc.errors
        except ValueError as exc:
            errors = {"dataset": str(exc)}
        else:
            return redirect("training-view-job", pk=job.pk)
    jobs = Job.objects.filter(kind=Job.Kind.TRAINING, language=language).select_related("language").order_by("-created_at")[:20]
    return render(request, "training/start.html", {"language": language, "form": form, "errors": errors, "jobs": jobs})


@require_POST
@role_required(ADMIN)
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The exact config the job would run with, or what is wrong with it (htmx)."""
    language = _get_language(slug)
    form = TrainingForm(request.POST, language=language)
    context: dict = {"errors": {}, "yaml": ""}
    if form.is_valid():
        data = form.cleaned_data
        values = {**form.config(), "method": data["method"], "base_model": f"<{data['base']}>",
                  "output_dir": "<data>/checkpoints/job-<id>"}
        try:
            context["yaml"] = _preview_yaml(values)
        except ConfigError as exc:
            context["errors"] = exc.errors
    else:
        context["errors"] = {k: " ".join(v) for k, v in form.errors.items()}
    return render(request, "training/_config_preview.html", context)


def _preview_yaml(values: dict) -> str:
    """Everything but the base folder is validated here; the folder is checked when the
    job is queued."""
    return TrainingConfig.from_mapping(values).to_yaml()


@role_required(PM)
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_training_job(pk)
    points = list(TrainingPoint.objects.filter(job=job).order_by("step").values_list("step", "loss"))
    context = {"job": job, "points": [{"step": s, "loss": loss} for s, loss in points if loss is not None],
               "checkpoint": Checkpoint.objects.filter(job=job).first()}
    template = "training/_progress.html" if request.htmx else "training/job.html"
    return render(request, template, context)


@require_POST
@role_required(ADMIN)
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_training_job(pk)
    try:
        new = do_resume_training(job, by=request.user)
    except ValueError as exc:
        return HttpResponse(str(exc), status=409)
    return redirect("training-view-job", pk=new.pk)


@role_required(PM)
def checkpoint_list(request: HttpRequest, slug: str) -> HttpResponse:
    language = _get_language(slug)
    checkpoints = Checkpoint.objects.filter(language=language).select_related("dataset", "parent")[:200]
    return render(request, "training/checkpoints.html", {"language": language, "checkpoints": checkpoints})


# ---------------------------------------------------------------- JSON API (session + CSRF)

@require_POST
@login_required
def api_start(request: HttpRequest) -> JsonResponse:
    """POST {"language", "method", "dataset_id", "base", "config": {...}} → {"job": id}."""
    if not has_role(request.user, ADMIN):
        return JsonResponse({"error": "starting training needs the admin role"}, status=403)
    try:
        body = json.loads(request.body or b"{}")
        language = Language.objects.get(slug=body["language"])
        dataset = Dataset.objects.get(pk=body["dataset_id"], language=language)
        job = do_start_training(language, method=body["method"], dataset=dataset, base=body.get("base"),
                                config=body.get("config") or {}, by=request.user)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"bad request: {exc}"}, status=400)
    except (Language.DoesNotExist, Dataset.DoesNotExist):
        return JsonResponse({"error": "no such language or dataset"}, status=404)
    except ConfigError as exc:
        return JsonResponse({"error": "invalid config", "fields": exc.errors}, status=400)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"job": job.pk, "url": request.build_absolute_uri(f"/training/jobs/{job.pk}/")}, status=201)


@login_required
def api_job(request: HttpRequest, pk: int) -> JsonResponse:
    if not has_role(request.user, PM):
        return JsonResponse({"error": "forbidden"}, status=403)
    job = _get_training_job(pk)
    points = list(TrainingPoint.objects.filter(job=job).order_by("step")
                  .values("step", "loss", "learning_rate", "tokens_per_second"))
    checkpoint = Checkpoint.objects.filter(job=job).first()
    return JsonResponse({"job": job.pk, "status": job.status, "progress": job.progress, "counters": job.counters,
                         "error": job.error, "points": points,
                         "checkpoint": {"id": checkpoint.pk, "path": checkpoint.path} if checkpoint else None})


# ---------------------------------------------------------------- self-training

class SelfTrainingForm(forms.Form):
    start = forms.ChoiceField(help_text="The checkpoint that samples the first round")
    dataset = forms.SlugField(initial="self-train", help_text="Dataset name; each round freezes its next version")
    rounds = forms.IntegerField(min_value=1, max_value=50, initial=2)
    k = forms.IntegerField(min_value=1, max_value=64, initial=4, help_text="Candidates per task prompt")
    temperature = forms.FloatField(min_value=0, initial=0.8)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=256)
    tasks_limit = forms.IntegerField(min_value=1, required=False, help_text="At most this many train tasks")
    accept_rule = forms.ChoiceField(choices=[("auto", "Accept passing programs"), ("review", "Send them to review")])
    train_from = forms.ChoiceField(choices=[("start", "Each round trains from the start checkpoint"),
                                            ("previous", "Each round continues from the last one")])
    target = forms.FloatField(min_value=0.01, max_value=1, required=False, help_text="Stop at this pass rate")
    min_gain = forms.FloatField(required=False, help_text="Stop when a round gains less than this")
    perplexity = forms.BooleanField(required=False, help_text="Filter passing programs by base-model perplexity")
    perplexity_quantile = forms.FloatField(min_value=0.01, max_value=1, initial=0.9)
    keep_high_share = forms.FloatField(min_value=0, max_value=1, initial=0.1,
                                       help_text="Share of high-perplexity programs kept for diversity")
    reverse = forms.BooleanField(required=False, help_text="Train the code → description model and label code")
    max_steps = forms.IntegerField(min_value=1, initial=50, help_text="Training steps per round")
    batch_size = forms.IntegerField(min_value=1, initial=8)
    learning_rate = forms.FloatField(initial=2e-4)
    adapter = forms.ChoiceField(choices=ADAPTERS, initial="lora")
    seed = forms.IntegerField(min_value=0, initial=0)

    def __init__(self, *args, language: Language, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("tiny", "Tiny base built from the pack")]
        choices += [(str(c.pk), f"#{c.pk} {c.name} ({c.method})")
                    for c in Checkpoint.objects.filter(language=language)[:50]]
        self.fields["start"].choices = choices

    def start_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "start": data["start"], "dataset": data["dataset"], "rounds": data["rounds"], "k": data["k"],
            "temperature": data["temperature"], "max_new_tokens": data["max_new_tokens"],
            "tasks_limit": data["tasks_limit"], "accept_rule": data["accept_rule"], "train_from": data["train_from"],
            "stop": {"target": data["target"], "min_gain": data["min_gain"]},
            "perplexity": {"on": data["perplexity"], "quantile": data["perplexity_quantile"],
                           "keep_high_share": data["keep_high_share"]},
            "reverse": data["reverse"], "seed": data["seed"],
            "config": {"max_steps": data["max_steps"], "batch_size": data["batch_size"],
                       "learning_rate": data["learning_rate"], "adapter": data["adapter"], "seed": data["seed"]},
        }


@role_required(PM)
def self_training(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a self-training job (admins) and watch its rounds' pass rates (PMs too);
    `?job=<id>` picks the job shown, else the language's latest."""
    from training.actions import do_start_self_training
    from training.models import SelfTrainingRound

    language = _get_language(slug)
    form = SelfTrainingForm(request.POST or None, language=language)
    errors: dict = {}
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            return HttpResponse("Starting self-training needs the admin role.", status=403)
        if form.is_valid():
            try:
                job = do_start_self_training(language, by=request.user, **form.start_kwargs())
            except ConfigError as exc:
                errors = exc.errors
            else:
                return redirect(f"{request.path}?job={job.pk}")
    jobs = Job.objects.filter(kind=Job.Kind.SELF_TRAINING, language=language).order_by("-created_at")
    wanted = request.GET.get("job", "")
    job = get_object_or_404(jobs, pk=int(wanted)) if wanted.isdigit() else jobs.first()
    rounds = list(SelfTrainingRound.objects.filter(job=job).select_related("dataset", "checkpoint")) if job else []
    context = {"language": language, "form": form, "errors": errors, "job": job, "rounds": rounds,
               "jobs": jobs.select_related("language")[:20],
               "points": [{"round": r.round, "pass_rate": r.pass_rate, "pass_at_1": r.pass_at_1,
                           "pass_at_k": r.pass_at_k} for r in rounds]}
    if request.htmx:
        return render(request, "training/_self_training_rounds.html", context)
    return render(request, "training/self_training.html", context)
