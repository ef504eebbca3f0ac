"""Starting synthesis from the browser, and what the job's page shows while it runs."""
from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Job
from synthesis import registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def start_url(lua):
    return reverse("synthesis-start-job", args=[lua.slug])


def test_admin_sees_the_form_with_every_generator(lua, admin_user, login, start_url):
    page = login(admin_user).get(start_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert all(f'value="{name}"' in html for name in registry.GENERATORS)


def test_admin_starts_a_job_and_lands_on_its_page(lua, admin_user, login, start_url):
    response = login(admin_user).post(start_url, {"generator": "syntax.mutate", "count": 40, "seed": 5,
                                                  "params": '{"max_swaps": 1}', "limits": '{"wall_seconds": 1}'})
    job = Job.objects.get(kind=Job.Kind.SYNTHESIS, language=lua)
    assert response.status_code == 302 and response["Location"] == reverse("curation-view-job", args=[job.pk])
    assert job.params["generator"] == "syntax.mutate" and job.params["count"] == 40 and job.params["seed"] == 5
    assert job.params["params"] == {"max_swaps": 1} and job.params["limits"] == {"wall_seconds": 1}
    assert job.created_by == admin_user


@pytest.mark.parametrize("role", ["pm", "reviewer"])
def test_pm_and_reviewer_may_not_start_synthesis(lua, login, start_url, role, request):
    client = login(request.getfixturevalue(role))
    assert client.get(start_url).status_code == 403
    assert client.post(start_url, {"generator": "syntax.mutate", "count": 5, "seed": 0}).status_code == 403
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_anonymous_is_sent_to_log_in(lua, client, start_url):
    response = client.get(start_url)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_params_that_are_not_json_show_a_field_error(lua, admin_user, login, start_url):
    page = login(admin_user).post(start_url, {"generator": "syntax.mutate", "count": 5, "seed": 0,
                                              "params": '{"max_swaps": 1,}'})
    assert page.status_code == 200
    assert "not valid JSON" in page.content.decode()
    assert page.context["form"].errors["params"]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_params_that_are_not_an_object_and_bad_limits_are_refused(lua, admin_user, login, start_url):
    page = login(admin_user).post(start_url, {"generator": "syntax.mutate", "count": 5, "seed": 0,
                                              "params": "[1, 2]", "limits": '{"wall": 1}'})
    errors = page.context["form"].errors
    assert "must be a JSON object" in errors["params"][0] and "unknown limit" in errors["limits"][0]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_job_page_shows_the_generator_its_counters_and_a_link_to_its_samples(lua, admin_user, login,
                                                                             django_capture_on_commit_callbacks):
    from synthesis.actions import do_start_synthesis

    with django_capture_on_commit_callbacks(execute=True):
        job = do_start_synthesis(lua, "syntax.mutate", count=12, seed=3)
    job.refresh_from_db()
    client = login(admin_user)
    html = client.get(reverse("curation-view-job", args=[job.pk])).content.decode()
    assert "syntax.mutate" in html and "seed 3" in html
    assert f"{job.counters['stored']} stored" in html and "runs ok" in html
    browse = reverse("curation-browse-samples", args=[lua.slug]) + "?generator=syntax.mutate"
    assert f'href="{browse}"' in html
    # The polled fragment (htmx) carries the same summary.
    fragment = client.get(reverse("curation-view-job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="job-status"') and "syntax.mutate" in fragment


def test_running_job_page_polls_for_progress(lua, admin_user, login):
    from synthesis.actions import do_start_synthesis

    job = do_start_synthesis(lua, "syntax.mutate", count=12, seed=3, send=False)
    html = login(admin_user).get(reverse("curation-view-job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in html and "syntax.mutate" in html


# ---------------------------------------------------------------- the model and triage rules

@pytest.fixture
def checkpoints(lua):
    """One registered checkpoint of Lua and one of another language."""
    from curation.models import Language
    from training.models import Checkpoint

    other = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path="/nowhere")
    mine = Checkpoint.objects.create(language=lua, name="<b>lua-sft</b>", method="sft", base_model="/m/base",
                                     path="/m/lua-sft")
    theirs = Checkpoint.objects.create(language=other, name="tcl-sft", method="sft", base_model="/m/base",
                                       path="/m/tcl-sft")
    return mine, theirs


def _post(client, url, **fields):
    data = {"generator": "syntax.mutate", "count": 5, "seed": 0, "params": "{}", **fields}
    return client.post(url, data)


def test_form_offers_this_languages_checkpoints_only(lua, admin_user, login, start_url, checkpoints):
    mine, theirs = checkpoints
    html = login(admin_user).get(start_url).content.decode()
    assert f'value="checkpoint:{mine.pk}"' in html and f'value="checkpoint:{theirs.pk}"' not in html
    # The name is escaped where it is shown.
    assert "&lt;b&gt;lua-sft&lt;/b&gt;" in html and "<b>lua-sft</b>" not in html


def test_another_languages_checkpoint_posted_is_a_form_error(lua, admin_user, login, start_url, checkpoints):
    _, theirs = checkpoints
    page = _post(login(admin_user), start_url, model=f"checkpoint:{theirs.pk}")
    assert page.status_code == 200 and page.context["form"].errors["model"]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_teacher_is_offered_only_when_configured(lua, admin_user, login, start_url, settings):
    client = login(admin_user)
    settings.TEACHER_BASE_URL = ""
    assert 'value="teacher"' not in client.get(start_url).content.decode()
    settings.TEACHER_BASE_URL, settings.TEACHER_MODEL = "http://gpu-box:8000/v1", "coder-7b"
    html = client.get(start_url).content.decode()
    assert 'value="teacher" selected' in html and "coder-7b" in html


def test_valid_post_stores_the_checkpoint_and_triage_rules_on_the_job(lua, admin_user, login, start_url,
                                                                     checkpoints):
    mine, _ = checkpoints
    response = _post(login(admin_user), start_url, model=f"checkpoint:{mine.pk}",
                     triage='{"near_duplicates": {"threshold": 0.9}, "parse": true}')
    job = Job.objects.get(kind=Job.Kind.SYNTHESIS, language=lua)
    assert response.status_code == 302
    assert job.params["backend"] == {"kind": "checkpoint", "id": mine.pk}
    assert job.params["triage"] == {"near_duplicates": {"threshold": 0.9}, "parse": {"on": True}}


def test_choosing_no_model_means_none_even_with_a_teacher(lua, admin_user, login, start_url, settings):
    settings.TEACHER_BASE_URL = "http://gpu-box:8000/v1"
    _post(login(admin_user), start_url, model="none")
    assert Job.objects.get(kind=Job.Kind.SYNTHESIS).params["backend"] == {"kind": "none"}


@pytest.mark.parametrize("triage, says", [
    ('{"near_dupes": {"threshold": 0.9}}', "unknown triage check 'near_dupes'"),
    ('{"near_duplicates": {"treshold": 0.9}}', "unknown setting(s) for near_duplicates: treshold"),
    ('{"length": {"action": "drop"}}', "must be 'reject' or 'review'"),
    ('{"length": {"max_lines": "many"}}', "length.max_lines must be a whole number"),
    ('{"length": ', "not valid JSON"),
])
def test_bad_triage_rules_are_a_form_error_naming_them(lua, admin_user, login, start_url, triage, says):
    page = _post(login(admin_user), start_url, triage=triage)
    assert page.status_code == 200 and says in page.context["form"].errors["triage"][0]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_a_backend_among_the_parameters_is_refused_pointing_at_the_model_field(lua, admin_user, login, start_url):
    # A raw folder or URL is a CLI and API option; the browser offers only what the server has.
    for backend in ('{"kind": "carrier-pigeon"}', '{"kind": "local", "path": "/models/x"}'):
        page = _post(login(admin_user), start_url, params=f'{{"backend": {backend}}}')
        assert "choose the model in the Model field" in page.context["form"].errors["params"][0]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_model_driven_generator_without_a_model_is_a_form_error(lua, admin_user, login, start_url, settings):
    settings.TEACHER_BASE_URL = ""
    page = _post(login(admin_user), start_url, generator="transpile.python", model="none")
    assert "transpile.python needs a model" in page.context["form"].errors["model"][0]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_perplexity_rule_without_a_model_is_a_form_error(lua, admin_user, login, start_url, settings):
    settings.TEACHER_BASE_URL = ""
    page = _post(login(admin_user), start_url, model="none", triage='{"perplexity": {"on": true, "max": 3.5}}')
    assert "perplexity" in page.context["form"].errors["model"][0]
    assert not Job.objects.filter(kind=Job.Kind.SYNTHESIS).exists()


def test_page_shows_the_languages_triage_rules_escaped(lua, admin_user, login, start_url):
    lua.spec = {**lua.spec, "triage": {"length": {"max_lines": 50}, "<script>": True}}
    lua.save(update_fields=["spec"])
    html = login(admin_user).get(start_url).content.decode()
    assert "&quot;max_lines&quot;: 50" in html
    assert "&quot;&lt;script&gt;&quot;: true" in html and '"<script>"' not in html
