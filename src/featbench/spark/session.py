"""The Spark session featbench runs on: an active one (a Databricks job or notebook), or one
it starts for a `--spark-master` URL (default: this machine, `local[*,4]`)."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from featbench.errors import FeatbenchError

# local[*,4]: all cores, and 4 attempts per task as on a cluster (spark.task.maxFailures),
# so a task that dies is retried in local mode too.
DEFAULT_MASTER = "local[*,4]"
EXTRA = "featbench[spark]"

# Small footprints for a local master: the machine also runs the target. A cluster's
# own settings are never overridden.
LOCAL_CONF = {
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.python.worker.reuse": "true",
}


def require_pyspark() -> Any:
    """The pyspark module, or one error naming the extra to install."""
    try:
        import pyspark
    except ModuleNotFoundError:
        raise FeatbenchError(
            f"--engine spark needs pyspark (and Java 17+): pip install '{EXTRA}'"
        ) from None
    return pyspark


DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def spark(
    master: str | None = None, conf: dict[str, str] | None = None, delta: bool = False
) -> Any:
    """The active SparkSession, or a new one on `master` (default DEFAULT_MASTER).

    `delta`: a new session gets Delta Lake (delta-spark's jars, which Spark fetches from
    Maven, and its catalog); an active one (Databricks) is used as it is."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    if master is None and (
        os.environ.get("DATABRICKS_RUNTIME_VERSION") or os.environ.get("PYSPARK_GATEWAY_PORT")
    ):
        # launched by a cluster (a Databricks job, spark-submit): its master and settings
        return SparkSession.builder.getOrCreate()
    url = master or DEFAULT_MASTER
    b = SparkSession.builder.master(url).appName("featbench")
    if url.startswith("local"):
        # executors' Python must be this one: featbench is installed here (SparkContext
        # reads PYSPARK_PYTHON, not the configuration, when it starts workers)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for k, v in LOCAL_CONF.items():
            b = b.config(k, v)
    if delta:
        from delta.pip_utils import configure_spark_with_delta_pip

        b = configure_spark_with_delta_pip(b)
        conf = {**DELTA_CONF, **(conf or {})}
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    try:
        return b.getOrCreate()
    except Exception as e:  # the JVM did not start (no Java, bad master URL)
        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FeatbenchError(f"could not start Spark on {url}: {line}") from None


def describe(session: Any) -> dict[str, Any]:
    """What a run's manifest records about the engine (no secrets: the master URL only)."""
    sc = session.sparkContext
    return {
        "engine": "spark",
        "master": sc.master,
        "spark_version": session.version,
        "default_parallelism": sc.defaultParallelism,
        "driver_host": socket.gethostname(),
    }


def task_attempt() -> int:
    """The attempt number of the Spark task running this code (0 outside Spark)."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return 0 if ctx is None else int(ctx.attemptNumber())


def task_error(e: BaseException) -> str:
    """The Python error a failed Spark task reported (its last line), else Spark's first line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(("featbench.errors.", "psycopg.")) or "Error: " in ln[:120]:
            return ln
    return lines[0] if lines else type(e).__name__


def stop(session: Any) -> None:
    """Stop a session featbench started, and its JVM gateway: py4j keeps a thread in this
    process until then, and a process that times requests itself must have none."""
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        SparkContext._gateway = None
        SparkContext._jvm = None
