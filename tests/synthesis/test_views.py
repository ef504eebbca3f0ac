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
