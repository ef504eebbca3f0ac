from django.urls import path

from curation import token_views, views

urlpatterns = [
    path("", views.home, name="curation-home"),
    path("languages/<slug:slug>/", views.language_detail, name="curation-view-language"),
    path("languages/<slug:slug>/docs/<str:anchor>/", views.doc_section, name="curation-view-section"),
    path("account/tokens/", token_views.token_list, name="curation-list-tokens"),
    path("account/tokens/<int:pk>/revoke/", token_views.token_revoke, name="curation-revoke-token"),
    path("jobs/", views.job_list, name="curation-list-jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="curation-view-job"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="curation-cancel-job"),
    # Review workflow.
    path("review/", views.queue_list, name="curation-list-queues"),
    path("review/<slug:slug>/browse/", views.browse, name="curation-browse-samples"),
    path("review/<slug:slug>/browse/bulk/", views.bulk_review, name="curation-bulk-review"),
    path("review/<slug:slug>/samples/<int:pk>/", views.sample_detail, name="curation-view-sample"),
    path("review/<slug:slug>/disputes/", views.dispute_list, name="curation-list-disputes"),
    path("review/<slug:slug>/agreement/", views.agreement, name="curation-view-agreement"),
    path("review/<slug:slug>/audit/", views.audit_list, name="curation-list-reviews"),
    path("review/<slug:slug>/pairs/<int:pk>/swap/", views.pair_swap, name="curation-swap-pair"),
    path("review/<slug:slug>/<str:kind>/", views.review_next, name="curation-review-next"),
    path("review/<slug:slug>/<str:kind>/settings/", views.queue_settings, name="curation-configure-queue"),
    path("review/<slug:slug>/<str:kind>/undo/", views.review_undo, name="curation-undo-review"),
    path("review/<slug:slug>/<str:kind>/<int:pk>/decide/", views.review_decide, name="curation-decide-item"),
    path("review/<slug:slug>/<str:kind>/<int:pk>/edit/", views.review_edit, name="curation-edit-item"),
    path("review/<slug:slug>/<str:kind>/<int:pk>/adjudicate/", views.adjudicate, name="curation-adjudicate-item"),
]
