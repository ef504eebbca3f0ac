"""Starting synthesis from the browser; progress shows on the job's page."""
from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from curation.models import Job, Language
from curation.roles import ADMIN, role_required
from synthesis.actions import MAX_COUNT, check_triage, do_start_synthesis
from synthesis.registry import GENERATORS, NEEDS, check_limits, limits_for


MODEL_NONE, MODEL_TEACHER, CHECKPOINT = "none", "teacher", "checkpoint:"
NEEDS_MODEL = "a model backend"  # synthesis.registry.NEEDS of the model-driven generators
TRIAGE_EXAMPLE = '{"near_duplicates": {"threshold": 0.9}}'


class SynthesisForm(forms.Form):
    """A synthesis job as the browser may start one. The model is chosen from what the
    server offers — its teacher endpoint, this language's registered checkpoints — never
    typed in: a raw folder or URL stays a CLI and API option."""

    generator = forms.ChoiceField()
    count = forms.IntegerField(min_value=1, max_value=MAX_COUNT, initial=500)
    seed = forms.IntegerField(min_value=0, initial=0)
    model = forms.ChoiceField(required=False, help_text="The model that model-driven generators sample from.")
    params = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), initial="{}",
                             help_text="Generator parameters as a JSON object")
    limits = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": '{"wall_seconds": 2}'}),
                             help_text="Sandbox limits for this job's programs (JSON); only ever lower than the "
                                       "pack's. Empty: the generator's defaults.")
    triage = forms.CharField(required=False, label="Triage rules",
                             widget=forms.Textarea(attrs={"rows": 2, "placeholder": TRIAGE_EXAMPLE}),
                             help_text="This job's triage rules (JSON), overriding the language's setting by "
                                       "setting. Empty: the language's rules.")

    def __init__(self, *args, language: Language, **kwargs):
        super().__init__(*args, **kwargs)
        self.language = language
        self.fields["generator"].choices = [(name, name) for name in sorted(GENERATORS)]
        self.fields["model"].choices = _model_choices(language)
        self.fields["model"].initial = MODEL_TEACHER if settings.TEACHER_BASE_URL else MODEL_NONE

    def clean_model(self) -> str:
        return self.cleaned_data.get("model") or self.fields["model"].initial

    def clean_params(self) -> dict:
        params = _json_object(self.cleaned_data.get("params"), example='{"max_depth": 3}')
        if "backend" in params:
            # The job's backend replaces this key before a generator sees it (or leaves a
            # bare JSON object where a model is expected): it never does what it says.
            raise forms.ValidationError("backend: choose the model in the Model field; a backend among the "
                                        "generator's parameters is not used.")
        return params

    def clean_limits(self) -> dict:
        try:
            return check_limits(_json_object(self.cleaned_data.get("limits"), example='{"wall_seconds": 2}'))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_triage(self) -> dict:
        try:
            return check_triage(_json_object(self.cleaned_data.get("triage"), example=TRIAGE_EXAMPLE))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict:
        data = super().clean()
        generator = data.get("generator")
        if data.get("model") != MODEL_NONE:
            return data
        if NEEDS.get(generator) == NEEDS_MODEL:
            self.add_error("model", f"{generator} needs a model: choose the teacher endpoint or a checkpoint.")
            return data
        from synthesis.chunks import triage_rules

        try:
            perplexity = triage_rules(self.language, data.get("triage") or {})["perplexity"]["on"]
        except ValueError as exc:  # rules typed into the admin that no job could apply
            self.add_error(None, f"{self.language.name}'s triage rules: {exc}")
            return data
        if perplexity:
            self.add_error("model", "the perplexity triage rule scores items with the job's model: choose one, "
                                    'or switch it off with {"perplexity": false}.')
        return data

    def backend(self) -> dict | None:
        """The job's backend spec: None is the configured teacher (synthesis.actions)."""
        model = self.cleaned_data["model"]
        if model == MODEL_TEACHER:
            return None
        if model.startswith(CHECKPOINT):
            return {"kind": "checkpoint", "id": int(model[len(CHECKPOINT):])}
        return {"kind": "none"}


def _model_choices(language: Language) -> list[tuple[str, str]]:
    from training.models import Checkpoint

    choices = [(MODEL_NONE, "none")]
    if settings.TEACHER_BASE_URL:
        choices.append((MODEL_TEACHER, f"teacher endpoint ({settings.TEACHER_MODEL or 'its default model'})"))
    checkpoints = Checkpoint.objects.filter(language=language).only("pk", "name", "method").order_by("-created_at")
    choices += [(f"{CHECKPOINT}{c.pk}", f"checkpoint #{c.pk} {c.name} ({c.method})") for c in checkpoints]
    return choices


def _json_object(raw: str | None, *, example: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f"must be a JSON object, like {example}")
    return value


def _get_language_for_admin(slug: str) -> Language:
    return get_object_or_404(Language, slug=slug)


@role_required(ADMIN)
def start(request: HttpRequest, slug: str) -> HttpResponse:
    language = _get_language_for_admin(slug)
    form = SynthesisForm(request.POST or None, language=language)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = do_start_synthesis(language, data["generator"], count=data["count"], seed=data["seed"],
                                     params=data["params"], backend=form.backend(), limits=data["limits"] or None,
                                     triage=data["triage"] or None, by=request.user)
        except ValueError as exc:  # e.g. the checkpoint was deleted since the page was drawn
            form.add_error(None, str(exc))
        else:
            return redirect("curation-view-job", pk=job.pk)
    recent = (Job.objects.filter(kind=Job.Kind.SYNTHESIS, language=language).select_related("language")
              .order_by("-created_at")[:20])
    generators = [{"name": name, "limits": limits_for(name), "needs": NEEDS.get(name, "")}
                  for name in sorted(GENERATORS)]
    rules = (language.spec or {}).get("triage")
    return render(request, "synthesis/start.html", {
        "language": language, "form": form, "jobs": recent, "generators": generators,
        "language_triage": json.dumps(rules, indent=1, sort_keys=True) if rules else ""})
