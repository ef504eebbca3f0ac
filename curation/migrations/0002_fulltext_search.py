"""Full-text search indexes, on Postgres only (SQLite, the embedded default, has none).

The expressions must match `curation.search` exactly for the planner to use them."""
from django.db import migrations

INDEXES = [
    ("curation_sample", "sample_fts", "to_tsvector('simple', coalesce(prompt, '') || ' ' || coalesce(code, ''))"),
    ("curation_docsection", "docsection_fts", "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, expression in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}))")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
