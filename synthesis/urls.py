from django.urls import path

from synthesis import views

urlpatterns = [
    path("languages/<slug:slug>/synthesize/", views.start, name="synthesis-start-job"),
]
