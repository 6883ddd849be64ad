"""A GIN index on paper authors, for "papers by this author" and muted authors (PostgreSQL only; nothing on SQLite)."""

from django.db import migrations


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS paper_authors_gin ON recommender_paper USING gin (authors jsonb_path_ops)")


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS paper_authors_gin")


class Migration(migrations.Migration):
    dependencies = [("recommender", "0009_merge_intake_and_hardening")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
