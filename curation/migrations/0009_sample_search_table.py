"""Full-text search moves from a generated column of curation_sample to a side table kept
by triggers (see curation.models.SampleSearch for why). Postgres only: on SQLite the table
exists and stays empty.

The insert trigger is per statement with a transition table, so COPY and bulk_create
fill the side table in one INSERT … SELECT rather than a function call per row; the update
trigger fires only when an UPDATE sets prompt or code (a decision sets status) and only
for rows where they changed.
"""
from django.contrib.postgres.search import SearchVectorField
from django.db import migrations, models

DOCUMENT = "strip(to_tsvector('simple', coalesce({row}.prompt, '') || ' ' || coalesce({row}.code, '')))"

FORWARDS = f"""
INSERT INTO curation_samplesearch (sample_id, created_at, search) SELECT id, created_at, search FROM curation_sample;
DROP INDEX IF EXISTS sample_fts;
ALTER TABLE curation_sample DROP COLUMN IF EXISTS search;
CREATE INDEX samplesearch_fts ON curation_samplesearch USING gin (search);

CREATE FUNCTION curation_sample_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO curation_samplesearch (sample_id, created_at, search)
    SELECT n.id, n.created_at, {DOCUMENT.format(row="n")} FROM new_samples n;
    RETURN NULL;
END $$;
CREATE TRIGGER sample_search_insert AFTER INSERT ON curation_sample
    REFERENCING NEW TABLE AS new_samples FOR EACH STATEMENT EXECUTE FUNCTION curation_sample_search_insert();

CREATE FUNCTION curation_sample_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO curation_samplesearch (sample_id, created_at, search)
    VALUES (NEW.id, NEW.created_at, {DOCUMENT.format(row="NEW")})
    ON CONFLICT (sample_id) DO UPDATE SET search = EXCLUDED.search;
    RETURN NULL;
END $$;
CREATE TRIGGER sample_search_update AFTER UPDATE OF prompt, code ON curation_sample FOR EACH ROW
    WHEN (OLD.prompt IS DISTINCT FROM NEW.prompt OR OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION curation_sample_search_update();
"""

BACKWARDS = f"""
DROP TRIGGER IF EXISTS sample_search_update ON curation_sample;
DROP TRIGGER IF EXISTS sample_search_insert ON curation_sample;
DROP FUNCTION IF EXISTS curation_sample_search_update();
DROP FUNCTION IF EXISTS curation_sample_search_insert();
ALTER TABLE curation_sample ADD COLUMN IF NOT EXISTS search tsvector
    GENERATED ALWAYS AS ({DOCUMENT.format(row="curation_sample")}) STORED;
CREATE INDEX IF NOT EXISTS sample_fts ON curation_sample USING gin (search);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARDS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARDS)


class Migration(migrations.Migration):
    dependencies = [("curation", "0008_api_token")]
    operations = [
        migrations.CreateModel(
            name="SampleSearch",
            fields=[
                ("sample", models.OneToOneField(on_delete=models.deletion.CASCADE, primary_key=True,
                                                related_name="+", serialize=False, to="curation.sample")),
                ("created_at", models.DateTimeField()),
                ("search", SearchVectorField()),
            ],
            options={
                "verbose_name_plural": "sample searches",
                "indexes": [models.Index(fields=["created_at", "sample"], name="samplesearch_created")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
