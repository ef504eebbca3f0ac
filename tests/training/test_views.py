"""Datasets and training from the browser and the JSON API."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from curation.models import Dataset, Job, ReviewStatus, Sample
from training.models import TrainingPoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def accepted(lua, settings, tmp_path_factory):
    settings.DATA_DIR = tmp_path_factory.getbasetemp() / "training-views"
    settings.EVALUATION_AUTO = False
    Sample.objects.bulk_create([
        Sample(language=lua, kind="semantic", prompt=f"Print {i}.", code=f"print({i})", generator="t",
               content_hash=f"v{i}", status=ReviewStatus.ACCEPTED, verdict="ok") for i in range(5)])


@pytest.fixture
def dataset(accepted, lua):
    from curation.actions import do_freeze_dataset

    return do_freeze_dataset(lua, "main", dev_percent=0)


FORM = {"method": "sft", "base": "tiny", "adapter": "lora", "learning_rate": "0.0002", "epochs": "1",
        "max_steps": "3", "batch_size": "2", "gradient_accumulation": "1", "max_length": "128", "lora_r": "8",
        "lora_alpha": "16", "lora_dropout": "0.05", "lora_targets": "all-linear", "seed": "0", "save_steps": "2",
        "logging_steps": "1"}


def test_admin_freezes_a_dataset_from_the_browser(login, admin_user, lua, accepted):
    response = login(admin_user).post(reverse("training-list-datasets", args=["lua"]),
                                      {"name": "main", "kinds": "", "dev_percent": "0", "mix": "{}"})
    dataset = Dataset.objects.get(language=lua, name="main")
    assert response.status_code == 302 and response.url == reverse("training-view-dataset", args=[dataset.pk])
    page = login(admin_user).get(response.url).content.decode()
    assert "sft/train.jsonl" in page and "Decontamination" in page


def test_pm_sees_datasets_but_cannot_freeze(login, pm, lua, accepted):
    client = login(pm)
    assert client.get(reverse("training-list-datasets", args=["lua"])).status_code == 200
    assert client.post(reverse("training-list-datasets", args=["lua"]), {"name": "x"}).status_code == 403
    assert not Dataset.objects.exists()


def test_preview_shows_the_exact_config(login, admin_user, lua, dataset):
    html = login(admin_user).post(reverse("training-preview-config", args=["lua"]),
                                  {**FORM, "dataset": dataset.pk}).content.decode()
    assert "method: sft" in html and "max_steps: 3" in html and "lora_r: 8" in html


def test_preview_names_an_impossible_value(login, admin_user, lua, dataset):
    html = login(admin_user).post(reverse("training-preview-config", args=["lua"]),
                                  {**FORM, "dataset": dataset.pk, "batch_size": "0"}).content.decode()
    assert "batch_size" in html and "method: sft" not in html


def test_start_form_queues_a_job_and_redirects_to_its_page(login, admin_user, lua, dataset):
    response = login(admin_user).post(reverse("training-start-job", args=["lua"]), {**FORM, "dataset": dataset.pk})
    job = Job.objects.get(kind=Job.Kind.TRAINING)
    assert response.status_code == 302 and response.url == reverse("training-view-job", args=[job.pk])
    assert job.params["config"]["max_steps"] == 3 and job.params["method"] == "sft"


def test_pm_cannot_start_training(login, pm, lua, dataset):
    response = login(pm).post(reverse("training-start-job", args=["lua"]), {**FORM, "dataset": dataset.pk})
    assert response.status_code == 403 and not Job.objects.exists()


def test_job_page_carries_the_loss_curve_points(login, pm, lua, dataset):
    from curation.jobs import create_job

    job = create_job(Job.Kind.TRAINING, language=lua, params={"method": "sft"})
    TrainingPoint.objects.bulk_create([TrainingPoint(job=job, step=s, loss=3.0 - s / 10) for s in (1, 2, 3)])
    html = login(pm).get(reverse("training-view-job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    points = json.loads(html.split('id="loss-points" type="application/json">')[1].split("</script>")[0])
    assert [p["step"] for p in points] == [1, 2, 3] and 'hx-trigger="every 2s"' in html


def test_api_starts_a_job_and_reports_bad_config_fields(login, admin_user, lua, dataset):
    client = login(admin_user)
    body = {"language": "lua", "dataset_id": dataset.pk, "method": "sft", "base": "tiny", "config": {"max_steps": 2}}
    response = client.post(reverse("training-api-start-job"), json.dumps(body), content_type="application/json")
    assert response.status_code == 201 and Job.objects.filter(pk=response.json()["job"]).exists()
    body["config"] = {"max_stepz": 2}
    response = client.post(reverse("training-api-start-job"), json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and "max_stepz" in response.json()["fields"]
    status = client.get(reverse("training-api-view-job", args=[Job.objects.first().pk])).json()
    assert status["status"] == "queued" and status["points"] == []


def test_reviewer_gets_no_training_api(login, reviewer, lua, dataset):
    body = {"language": "lua", "dataset_id": dataset.pk, "method": "sft"}
    response = login(reviewer).post(reverse("training-api-start-job"), json.dumps(body), content_type="application/json")
    assert response.status_code == 403
