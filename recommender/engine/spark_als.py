"""Spark's implicit-feedback ALS (``pyspark.ml``) as a trainer with the contract of ``collaborative.als_fit``.

Where it runs comes from the environment, as the settings read it: ``SPARK_MASTER`` (default ``local[*]``: this
host's cores, no cluster) and ``SPARK_DRIVER_MEMORY`` (default ``4g``). Needs pyspark and pyarrow: the ratings go to
Spark as Arrow batches through the driver (so a cluster's executors need no shared file system) and the factors come
back the same way.

Spark weighs a cell by ``1 + alpha * |value|`` where implicit weighs it by ``alpha * |value|`` (wanted when the value is
positive, for both), which is the same at the settings' alpha. But Spark scales ``regParam`` by each reader's and
each paper's number of wanted papers ("ALS-WR"), where implicit applies ``regularization`` as it is:
:func:`spark_reg_param` divides it by the mean count per reader, so an average reader is regularised as implicit
would regularise them (on citeulike-a this matches implicit's recall, benchmarks/spark_als.py).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import time

import numpy as np
from scipy import sparse

from recommender.engine.collaborative import ALSParams

logger = logging.getLogger(__name__)
REQUIREMENT = "TRAINER=spark needs pyspark and pyarrow, which are not installed: install the versions the requirements pin"


@functools.cache
def _scratch_dir() -> str:
    """A temporary folder for ALS's checkpoints, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="paperfeed-spark-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def spark_session():
    """The process's SparkSession, started on first use (``SPARK_MASTER``, ``SPARK_DRIVER_MEMORY``) and reused."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ImportError(REQUIREMENT) from exc
    master = os.environ.get("SPARK_MASTER", "local[*]")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # it logs every connection to the JVM at INFO
    session = (
        SparkSession.builder.master(master)
        .appName("paperfeed-als")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .getOrCreate()
    )
    context = session.sparkContext
    if master.startswith("local") and context.getCheckpointDir() is None:  # a cluster brings its own (spark.checkpoint.dir)
        context.setCheckpointDir(os.path.join(_scratch_dir(), "checkpoints"))
    return session


def spark_reg_param(confidence: sparse.csr_matrix, regularization: float) -> float:
    """Spark's ``regParam`` for implicit's ``regularization``: divided by the mean number of wanted papers per reader
    who wanted any, the count Spark multiplies it by."""
    wanted = (confidence > 0).getnnz(axis=1)
    return regularization / wanted[wanted > 0].mean() if wanted.any() else regularization


def spark_als_fit(
    confidence: sparse.csr_matrix, params: ALSParams, *, item_factors: np.ndarray | None = None, iterations: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fit Spark's ALS on an (n_users, n_items) confidence CSR; returns float32 user (n_users, f) and item
    (n_items, f) factors, rows in the matrix's order, zero for a reader or paper with no entry.

    ``item_factors`` (a warm start) is ignored: Spark's ALS cannot start from given factors, so every fit starts
    afresh, for ``iterations`` or ``params.iterations``. ``use_gpu`` and ``num_threads`` do not apply (Spark uses the
    master's cores).
    """
    try:
        import pyarrow as pa
        from pyspark.ml.recommendation import ALS
    except ImportError as exc:
        raise ImportError(REQUIREMENT) from exc
    if not sparse.isspmatrix_csr(confidence):
        raise TypeError("confidence must be a scipy.sparse CSR matrix")
    started = time.perf_counter()
    spark = spark_session()
    cells = confidence.tocoo()
    ratings = spark.createDataFrame(
        pa.table({"user": cells.row.astype(np.int32), "item": cells.col.astype(np.int32), "rating": cells.data.astype(np.float32)})
    )
    reg_param = spark_reg_param(confidence, params.regularization)
    blocks = max(2, spark.sparkContext.defaultParallelism)
    logger.info(
        "Spark ALS on %s: %d x %d, %d cells, %d factors, %d iterations, regParam %.4g",
        spark.sparkContext.master,
        *confidence.shape,
        confidence.nnz,
        params.factors,
        iterations or params.iterations,
        reg_param,
    )
    als = ALS(
        rank=params.factors,
        maxIter=iterations or params.iterations,
        regParam=reg_param,
        alpha=params.alpha,
        implicitPrefs=True,
        nonnegative=False,
        seed=params.random_state,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
    )
    model = als.fit(ratings)
    user_factors = _dense_factors(model.userFactors.toArrow(), confidence.shape[0], params.factors)
    item_factors = _dense_factors(model.itemFactors.toArrow(), confidence.shape[1], params.factors)
    logger.info("Spark ALS fitted in %.1f s", time.perf_counter() - started)
    return user_factors, item_factors


def _dense_factors(table, n_rows: int, factors: int) -> np.ndarray:
    """Spark's (id, features) factor rows as an (n_rows, factors) float32 array, row ``id`` for each, zero elsewhere."""
    out = np.zeros((n_rows, factors), dtype=np.float32)
    ids = table.column("id").to_numpy()
    out[ids] = table.column("features").combine_chunks().flatten().to_numpy().reshape(len(ids), factors)
    return out
