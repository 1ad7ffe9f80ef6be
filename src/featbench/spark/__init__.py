"""featbench on Apache Spark: distributed loading, lakehouse files, distributed load generation.

Every module here imports pyspark lazily (through `session.spark()`), so featbench works
without the `featbench[spark]` extra and `--engine spark` without it is one clear error.
Spark only distributes work: the loading, generation and timed client code are featbench's
own (`backends.pgload`, `generate`, `runner.client`), run unchanged inside Spark tasks.
"""
