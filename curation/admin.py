from django.contrib import admin

from curation import models


@admin.register(models.Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "slug", "extension", "grammar", "onboarded_at")
    filter_horizontal = ("members",)


@admin.register(models.DocSection)
class DocSectionAdmin(admin.ModelAdmin):
    list_display = ("anchor", "title", "language", "source_file")
    list_filter = ("language",)
    search_fields = ("anchor", "title", "body")


@admin.register(models.Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "runnable")
    list_filter = ("language",)


@admin.register(models.Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "split", "category", "source")
    list_filter = ("language", "split", "source", "category")
    search_fields = ("name", "prompt")


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "language", "progress", "attempts", "created_at")
    list_filter = ("kind", "status")


@admin.register(models.Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "language", "generator", "verdict", "status", "created_at")
    list_filter = ("language", "kind", "status", "verdict")
    search_fields = ("prompt",)
    raw_id_fields = ("parent", "task", "job")
    show_full_result_count = False  # a COUNT(*) over a million rows per page is slow


@admin.register(models.Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "sample", "verdict", "duration", "error_type", "created_at")
    list_filter = ("verdict",)
    raw_id_fields = ("sample", "job")
    show_full_result_count = False


@admin.register(models.PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ("id", "language", "generator", "status", "created_at")
    list_filter = ("language", "status")
    raw_id_fields = ("chosen_execution", "rejected_execution", "task", "job")


@admin.register(models.DocQAItem)
class DocQAItemAdmin(admin.ModelAdmin):
    list_display = ("id", "language", "question", "status")
    list_filter = ("language", "status")
    raw_id_fields = ("example_execution", "job")


@admin.register(models.Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "reviewer", "decision", "reason", "seconds_spent", "created_at")
    list_filter = ("decision",)
    raw_id_fields = ("sample", "pair", "docqa", "edited_execution", "edited_rejected_execution")


@admin.register(models.Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "language", "frozen_at")
    list_filter = ("language",)


@admin.register(models.ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ("language", "kind", "overlap", "order")
    list_filter = ("language",)


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "language", "queue", "reviewer", "state", "assigned_at")
    list_filter = ("language", "queue", "state")
    raw_id_fields = ("sample", "pair", "docqa")
    show_full_result_count = False


@admin.register(models.BulkAction)
class BulkActionAdmin(admin.ModelAdmin):
    list_display = ("id", "language", "decided_by", "decision", "matched", "changed", "seconds", "created_at")
    list_filter = ("language", "decision")
