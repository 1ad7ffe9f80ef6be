"""What an emulator's capacity units would do to DynamoDB's price, and what featbench prices.

Loads fraud-30 at scale 0.002 into `dynamodb://embedded` (moto), runs two ratios of the
`batch` strategy (BatchGetItem), and prints the read units moto reported per request
(summary.json, labelled `emulated`) beside the units `featbench cost` prices (computed
from item sizes, since an emulator's units are not AWS's billing).

    .venv/bin/python benchmarks/emulated_units.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from featbench.backends.base import open_backend
from featbench.report.build import cost_for_runs
from featbench.results.reader import read_run
from featbench.runner.benchmark import RunConfig, run_benchmark
from featbench.spec import builtin_spec


def main() -> None:
    spec = builtin_spec("fraud-30")
    b = open_backend("dynamodb://embedded")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            b.load(spec, 0.002, 3, streams=2)
            cfg = RunConfig(
                ratios=(100, 0), requests=20, warmup=2, n_keys=60, io_sample_every=0,
                strategies=("batch",),
            )  # fmt: skip
            out = run_benchmark([b], spec, cfg, out=Path(tmp), run_id="moto")
        finally:
            b.close()
        sec = out.summary["sections"][0]
        units = [r["consumed_rcu_per_request"] for r in sec["ratios"]]
        rru = cost_for_runs([read_run(out.path)], qps=100).input("rru_per_request")
    assert rru is not None
    print(f"capacity units: {sec['capacity_units']}; reported per request: {units}")
    print(f"priced: {rru.value:g} read units per request, {rru.basis} ({rru.source})")


if __name__ == "__main__":
    main()
