"""Full-text search of papers by an index, kept current by the database itself (whatever writes a paper).

PostgreSQL: a stored generated ``tsvector`` column (title weight A, authors B, abstract C; English stemming) with a GIN
index. SQLite: an FTS5 table over the paper table (title, authors, abstract; Porter stemming), kept current by triggers.
The column and the table are not model fields: ``recommender.selectors.search`` queries them. The table is analysed at
once: without statistics of the new column the planner takes a common word for a rare one (1.5 s instead of 12 ms at
10^6 papers), and autovacuum does not analyse a table that was only rewritten.

Any later migration that makes SQLite rebuild the paper table drops the triggers with it: ``tests/test_search.py``
checks that they exist after all migrations.
"""

from django.db import migrations

POSTGRES_FORWARD = """
ALTER TABLE recommender_paper ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(jsonb_to_tsvector('english', coalesce(authors, '[]'::jsonb), '["string"]'), 'B')
    || setweight(to_tsvector('english', coalesce(abstract, '')), 'C')
) STORED;
CREATE INDEX paper_search_gin ON recommender_paper USING gin (search_vector);
ANALYZE recommender_paper;
"""
POSTGRES_BACKWARD = "DROP INDEX IF EXISTS paper_search_gin; ALTER TABLE recommender_paper DROP COLUMN IF EXISTS search_vector;"

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE paper_fts USING fts5(title, authors, abstract, content='recommender_paper', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "INSERT INTO paper_fts(paper_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)')",
    "INSERT INTO paper_fts(paper_fts) VALUES ('rebuild')",
    "CREATE TRIGGER paper_fts_insert AFTER INSERT ON recommender_paper BEGIN "
    "INSERT INTO paper_fts(rowid, title, authors, abstract) VALUES (new.id, new.title, new.authors, new.abstract); END",
    "CREATE TRIGGER paper_fts_delete AFTER DELETE ON recommender_paper BEGIN "
    "INSERT INTO paper_fts(paper_fts, rowid, title, authors, abstract) VALUES ('delete', old.id, old.title, old.authors, old.abstract); "
    "END",
    "CREATE TRIGGER paper_fts_update AFTER UPDATE OF title, authors, abstract ON recommender_paper BEGIN "
    "INSERT INTO paper_fts(paper_fts, rowid, title, authors, abstract) VALUES ('delete', old.id, old.title, old.authors, old.abstract); "
    "INSERT INTO paper_fts(rowid, title, authors, abstract) VALUES (new.id, new.title, new.authors, new.abstract); END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS paper_fts_insert",
    "DROP TRIGGER IF EXISTS paper_fts_delete",
    "DROP TRIGGER IF EXISTS paper_fts_update",
    "DROP TABLE IF EXISTS paper_fts",
]


def forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("recommender", "0012_catalogue_at_scale")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
