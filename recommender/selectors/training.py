"""Reading everything a retrain needs from the database, as arrays."""

from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

import numpy as np
from django.db import connection
from django.utils import timezone

from recommender.engine.matrix import KIND_CODES, Events
from recommender.models import Interaction, Paper


@dataclass
class TrainingSnapshot:
    """Papers (column j is ``paper_pks[j]``), readers (row i is ``user_pks[i]``) and all feedback events."""

    paper_pks: np.ndarray
    paper_ids: list[str]
    texts: list[str]
    user_pks: np.ndarray
    events: Events
    created: np.ndarray  # (n_events,) seconds since the epoch
    taken_at: float  # when the feedback was read, seconds since the epoch
    own: np.ndarray | None = None  # (n_events,) bool: given on the reader's own, not on something we recommended
    papers: list[tuple[int, str, str]] | None = None  # (pk, title, abstract) of each column, for the meaning vectors
    meaning: np.ndarray | None = None  # (n_items, d) float16 the papers' meaning vectors, once embedded (None: off)
    meaning_missing: np.ndarray | None = None  # (n_items,) bool: papers holding the mean vector (over the retrain's limit)

    @property
    def data_until(self) -> datetime | None:
        """When the newest feedback in the snapshot was given (never later than the snapshot itself, whatever
        an import claimed): the high-water mark of what a model trained on it saw."""
        if not len(self.created):
            return None
        return datetime.fromtimestamp(min(float(self.created.max()), self.taken_at), tz=dt_timezone.utc)


def paper_text(title: str, abstract: str) -> str:
    """What the content model reads: the title twice (it says most per word), then the abstract."""
    return f"{title}. {title}. {abstract}"


def training_snapshot() -> TrainingSnapshot:
    """All papers and all feedback, mapped to matrix rows and columns."""
    papers = list(Paper.objects.order_by("id").values_list("id", "external_id", "title", "abstract"))
    paper_pks = np.array([p[0] for p in papers], dtype=np.int64)
    users, items, kinds, values, created, own = feedback_arrays()
    columns = np.searchsorted(paper_pks, items)
    in_snapshot = (
        (columns < len(paper_pks)) & (paper_pks[np.minimum(columns, len(paper_pks) - 1)] == items)
        if len(paper_pks)
        else np.zeros(len(items), bool)
    )
    keep = np.flatnonzero(in_snapshot)  # feedback on a paper added after the papers were read waits for the next run
    user_pks, user_rows = _dense_ranks(users[keep])
    columns = columns[keep]
    kinds, values, stamps = kinds[keep], values[keep], created[keep]
    now = timezone.now().timestamp()
    events = Events(user_rows, columns, kinds, values, (now - stamps) / 86400.0)
    texts = [paper_text(p[2], p[3]) for p in papers]
    columns_text = [(p[0], p[2], p[3]) for p in papers]
    return TrainingSnapshot(paper_pks, [p[1] for p in papers], texts, user_pks, events, stamps, now, own[keep], columns_text)


def _dense_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers, in linear time (no sort)."""
    if len(values) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.int64), rank[values].astype(np.int64)


_KIND_SQL = " ".join(f"WHEN '{kind}' THEN {code}" for kind, code in KIND_CODES.items())
# One fixed-width row of PostgreSQL's binary COPY format: field count, then (length, value) per field, big-endian.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("n1", ">i4"),
        ("user", ">i8"),
        ("n2", ">i4"),
        ("paper", ">i8"),
        ("n3", ">i4"),
        ("kind", ">i2"),
        ("n4", ">i4"),
        ("value", ">i2"),
        ("n5", ">i4"),
        ("created", ">f8"),
        ("n6", ">i4"),
        ("own", ">i2"),
    ]
)
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)


def feedback_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training feedback as arrays: user pk, paper pk, kind code, stars (0 if none), created (epoch seconds), and
    whether it was given on the reader's own (not on a recommendation: see ``FeedbackVia``).

    Readers who keep their feedback out of other readers' recommendations are left out. On
    PostgreSQL the rows arrive by binary COPY straight into numpy (no Python object per row).
    """
    if connection.vendor == "postgresql":
        return _feedback_arrays_copy()
    rows = (
        Interaction.objects.filter(user__share_feedback=True)
        .order_by()
        .values_list("user_id", "paper_id", "kind", "value", "created", "via")
    )
    users, items, kinds, values, created, own = [], [], [], [], [], []
    for user_id, paper_id, kind, value, when, via in rows.iterator(chunk_size=20_000):
        users.append(user_id)
        items.append(paper_id)
        kinds.append(KIND_CODES[kind])
        values.append(value or 0)
        created.append(when.timestamp())
        own.append(via == "")
    return (
        np.array(users, dtype=np.int64),
        np.array(items, dtype=np.int64),
        np.array(kinds, dtype=np.int8),
        np.array(values, dtype=np.int16),
        np.array(created, dtype=np.float64),
        np.array(own, dtype=bool),
    )


def _feedback_arrays_copy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    interaction, user = Interaction._meta.db_table, Interaction._meta.get_field("user").related_model._meta.db_table
    query = (
        f"SELECT i.user_id::int8, i.paper_id::int8, (CASE i.kind {_KIND_SQL} END)::int2, COALESCE(i.value, 0)::int2, "
        f"EXTRACT(EPOCH FROM i.created)::float8, (CASE WHEN i.via = '' THEN 1 ELSE 0 END)::int2 "
        f"FROM {interaction} i JOIN {user} u ON u.id = i.user_id WHERE u.share_feedback"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        data = b"".join(bytes(block) for block in copy)
    n = (len(data) - _COPY_HEADER - 2) // _COPY_ROW.itemsize
    rows = np.frombuffer(data, dtype=_COPY_ROW, count=n, offset=_COPY_HEADER)
    return (
        rows["user"].astype(np.int64),
        rows["paper"].astype(np.int64),
        rows["kind"].astype(np.int8),
        rows["value"].astype(np.int16),
        rows["created"].astype(np.float64),
        rows["own"] == 1,
    )
