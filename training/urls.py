from django.urls import path

from training import views

urlpatterns = [
    path("languages/<slug:slug>/datasets/", views.dataset_list, name="training-list-datasets"),
    path("datasets/<int:pk>/", views.dataset_detail, name="training-view-dataset"),
    path("languages/<slug:slug>/train/", views.start, name="training-start-job"),
    path("languages/<slug:slug>/train/preview/", views.preview, name="training-preview-config"),
    path("languages/<slug:slug>/checkpoints/", views.checkpoint_list, name="training-list-checkpoints"),
    path("jobs/<int:pk>/", views.job_detail, name="training-view-job"),
    path("jobs/<int:pk>/resume/", views.resume, name="training-resume-job"),
    path("api/jobs/", views.api_start, name="training-api-start-job"),
    path("api/jobs/<int:pk>/", views.api_job, name="training-api-view-job"),
]

urlpatterns += [
    path("languages/<slug:slug>/self-train/", views.self_training, name="training-start-self-training"),
]
