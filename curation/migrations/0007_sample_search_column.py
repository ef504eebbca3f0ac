"""Full-text search from a stored column instead of an expression index (Postgres only;
SQLite, the embedded default, has no full-text index).

Measured on a million samples: an index on to_tsvector(prompt || code) makes every update
of a sample's row that is not HOT — every review decision, since status is indexed —
parse prompt and code again to build the index entry. A bulk accept of 100,000 samples
spent 12.6 s of its 22 s of CPU there. A generated column is recomputed only when prompt
or code change (Postgres skips generated columns whose inputs an UPDATE leaves alone), so
a decision copies the stored vector into the GIN entry instead of parsing. Stripped of
word positions: the search never asks for phrases (`curation.review.search_tsquery`).

Adding the column rewrites the table once (minutes on a million rows); the expression
index is dropped first so the rewrite does not rebuild it.
"""
from django.db import migrations

DOCUMENT = "strip(to_tsvector('simple', coalesce(prompt, '') || ' ' || coalesce(code, '')))"
OLD_EXPRESSION = "to_tsvector('simple', coalesce(prompt, '') || ' ' || coalesce(code, ''))"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS sample_fts")
    schema_editor.execute(f"ALTER TABLE curation_sample ADD COLUMN IF NOT EXISTS search tsvector "
                          f"GENERATED ALWAYS AS ({DOCUMENT}) STORED")
    schema_editor.execute("CREATE INDEX IF NOT EXISTS sample_fts ON curation_sample USING gin (search)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS sample_fts")
    schema_editor.execute("ALTER TABLE curation_sample DROP COLUMN IF EXISTS search")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS sample_fts ON curation_sample USING gin (({OLD_EXPRESSION}))")


class Migration(migrations.Migration):
    dependencies = [("curation", "0006_review_lean_indexes")]
    operations = [migrations.RunPython(forwards, backwards)]
