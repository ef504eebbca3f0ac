"""Every page needs a login; roles decide what each user reaches."""
from __future__ import annotations

import pytest
from django.urls import reverse

from curation.jobs import create_job
from curation.models import Job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name,kwargs", [
    ("curation-home", {}),
    ("curation-list-jobs", {}),
    ("curation-view-language", {"slug": "lua"}),
])
def test_anonymous_is_sent_to_login(client, lua, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_reviewer_sees_only_languages_they_review(login, reviewer, lua):
    client = login(reviewer)
    assert client.get(reverse("curation-view-language", args=["lua"])).status_code == 404
    lua.members.add(reviewer)
    assert client.get(reverse("curation-view-language", args=["lua"])).status_code == 200


def test_reviewer_cannot_see_jobs(login, reviewer):
    assert login(reviewer).get(reverse("curation-list-jobs")).status_code == 403


def test_pm_sees_jobs_but_cannot_cancel_one(login, pm):
    job = create_job(Job.Kind.SYNTHESIS)
    client = login(pm)
    assert client.get(reverse("curation-view-job", args=[job.pk])).status_code == 200
    assert client.post(reverse("curation-cancel-job", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_admin_cancels_a_queued_job(login, admin_user):
    job = create_job(Job.Kind.SYNTHESIS)
    response = login(admin_user).post(reverse("curation-cancel-job", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_job_page_polls_while_running_and_stops_when_finished(login, pm):
    job = create_job(Job.Kind.SYNTHESIS)
    client = login(pm)
    fragment = client.get(reverse("curation-view-job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in fragment and "<html" not in fragment
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    fragment = client.get(reverse("curation-view-job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment


def test_admin_lists_the_language(login, admin_user, lua):
    response = login(admin_user).get(reverse("admin:curation_language_changelist"))
    assert response.status_code == 200
    assert "Lua" in response.content.decode()


def test_pm_cannot_reach_the_django_admin(login, pm):
    response = login(pm).get(reverse("admin:curation_language_changelist"))
    assert response.status_code == 302 and "login" in response.url


def test_doc_section_renders_escaped_with_content_security_policy(login, admin_user, lua):
    section = lua.sections.first()
    section.body = "Try <script>alert(1)</script> and `<b>x</b>`"
    section.save(update_fields=["body"])
    response = login(admin_user).get(reverse("curation-view-section", args=["lua", section.anchor[1:]]))
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_adduser_command_gives_the_role(db):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from curation.roles import role_of

    call_command("adduser", "maria", "--role", "pm", "--password", "long-enough-pw")
    assert role_of(get_user_model().objects.get(username="maria")) == "pm"
