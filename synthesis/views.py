"""Starting synthesis from the browser; progress shows on the job's page."""
from __future__ import annotations

import json

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from curation.models import Job, Language
from curation.roles import ADMIN, role_required
from synthesis.actions import MAX_COUNT, do_start_synthesis
from synthesis.registry import GENERATORS, NEEDS, check_limits, limits_for


class SynthesisForm(forms.Form):
    generator = forms.ChoiceField()
    count = forms.IntegerField(min_value=1, max_value=MAX_COUNT, initial=500)
    seed = forms.IntegerField(min_value=0, initial=0)
    params = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), initial="{}",
                             help_text="Generator parameters as a JSON object")
    limits = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": '{"wall_seconds": 2}'}),
                             help_text="Sandbox limits for this job's programs (JSON); only ever lower than the "
                                       "pack's. Empty: the generator's defaults.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["generator"].choices = [(name, name) for name in sorted(GENERATORS)]

    def clean_params(self) -> dict:
        return _json_object(self.cleaned_data.get("params"), example='{"max_depth": 3}')

    def clean_limits(self) -> dict:
        try:
            return check_limits(_json_object(self.cleaned_data.get("limits"), example='{"wall_seconds": 2}'))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


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
    form = SynthesisForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = do_start_synthesis(language, data["generator"], count=data["count"], seed=data["seed"],
                                 params=data["params"], limits=data["limits"] or None, by=request.user)
        return redirect("curation-view-job", pk=job.pk)
    recent = (Job.objects.filter(kind=Job.Kind.SYNTHESIS, language=language).select_related("language")
              .order_by("-created_at")[:20])
    generators = [{"name": name, "limits": limits_for(name), "needs": NEEDS.get(name, "")}
                  for name in sorted(GENERATORS)]
    return render(request, "synthesis/start.html", {"language": language, "form": form, "jobs": recent,
                                                    "generators": generators})
