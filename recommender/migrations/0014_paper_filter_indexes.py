"""Indexes for the search's filters on PostgreSQL (a year, an arXiv category), so that a filter that leaves few papers
is read by index instead of walking the matches (nothing on SQLite: its search reads the FTS5 table first)."""

from django.db import migrations


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS paper_published ON recommender_paper (published)")
        schema_editor.execute("CREATE INDEX IF NOT EXISTS paper_categories_gin ON recommender_paper USING gin (categories jsonb_path_ops)")
        schema_editor.execute("ANALYZE recommender_paper")  # the planner's estimates of the filters, at once


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS paper_published")
        schema_editor.execute("DROP INDEX IF EXISTS paper_categories_gin")


class Migration(migrations.Migration):
    dependencies = [("recommender", "0013_paper_full_text")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
