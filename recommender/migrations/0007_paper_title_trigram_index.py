"""A trigram index on paper titles for the fuzzy look-up of pasted titles (PostgreSQL only; nothing on SQLite)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS paper_title_trgm ON recommender_paper USING gin (title gin_trgm_ops)")


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS paper_title_trgm")


class Migration(migrations.Migration):
    dependencies = [("recommender", "0006_gate_high_water_mark")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
