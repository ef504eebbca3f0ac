from django.urls import path

from evaluation import views

urlpatterns = [
    path("", views.dashboard_view, name="evaluation-view-dashboard"),
    path("runs/", views.run_list, name="evaluation-list-runs"),
    path("runs/new/", views.run_start, name="evaluation-start-run"),
    path("runs/<int:pk>/", views.run_detail, name="evaluation-view-run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="evaluation-cancel-run"),
    path("runs/<int:pk>/problems/<int:problem_pk>/", views.run_problem, name="evaluation-view-problem"),
    path("compare/", views.compare, name="evaluation-compare-runs"),
    path("suites/", views.suite_list, name="evaluation-list-suites"),
    path("suites/<slug:slug>/sync/", views.suites_sync, name="evaluation-sync-suites"),
    path("suites/<slug:slug>/import/", views.suite_import, name="evaluation-import-suite"),
    path("assistant/", views.playground, name="evaluation-view-playground"),
    # JSON API: session auth; POSTs carry the CSRF token (X-CSRFToken header).
    path("api/runs/", views.api_runs, name="evaluation-api-runs"),
    path("api/runs/<int:pk>/", views.api_run, name="evaluation-api-run"),
    path("api/assistant/", views.api_assistant, name="evaluation-api-assistant"),
]
