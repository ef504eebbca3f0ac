"""Each user's own API tokens: list, make (the token is shown once), revoke."""
from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.models import ApiToken
from curation.tokens import do_create_api_token, do_revoke_api_token


class TokenForm(forms.Form):
    label = forms.CharField(max_length=100, help_text="What the token is for, e.g. “nightly eval”")


def _get_token_for_user(request: HttpRequest, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=pk, user=request.user)


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    made = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, made = do_create_api_token(request.user, form.cleaned_data["label"])
        form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    # The new token is in this response only: never cached, never stored in clear.
    response = render(request, "curation/tokens.html", {"tokens": tokens, "form": form, "made": made},
                      status=201 if made else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    do_revoke_api_token(_get_token_for_user(request, pk))
    return redirect("curation-list-tokens")
