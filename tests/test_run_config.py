"""A run's configuration built once from plain options and checked once
(`RunConfig.from_options`, `RunConfig.validate`), and the library's `api.run` used as a
notebook would: targets in, the Run out, summary.json read by nobody after the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from featbench import api
from featbench.errors import FeatbenchError
from featbench.results import rundir
from featbench.runner.config import RunConfig, parse_strategies
from run_helpers import filled_schema, tiny_spec

SPEC = tiny_spec(2, rows=600, name="apirun")


def test_from_options_parses_the_command_lines_text() -> None:
    cfg = RunConfig.from_options(
        ratios="100, 50%,0",
        strategy="serial,redis=pipeline",
        scale=0.5,
        requests=40,
        thresholds=["p99<10ms@hot=50"],
    )
    assert cfg.ratios == (100.0, 50.0, 0.0) and cfg.levels == cfg.ratios
    assert cfg.strategies == ("serial",) and cfg.strategies_for("redis") == ("pipeline",)
    assert cfg.scale == 0.5 and cfg.scale_source == "given"
    assert cfg.thresholds == ("p99<10ms@hot=50",) and cfg.loop == "closed"
    skewed = RunConfig.from_options(distribution="zipfian", thetas="0.5,0.99", rate=100.0)
    assert skewed.levels == (0.5, 0.99) and skewed.loop == "open"
    assert RunConfig.from_options(distribution="zipfian", theta=1.2).levels == (1.2,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": " , "}, "--strategy is empty"),
        ({"strategy": "cassandra=scan"}, "STORE=STRATEGY"),
        ({"ratios": "100,101"}, "outside 0–100"),
        ({"requests": 0}, "--requests must be > 0"),
        ({"ratio_order": "sideways"}, "--ratio-order must be one of"),
        ({"hot_fraction": 1.0}, "--hot-fraction must be between 0 and 1"),
        ({"max_error_rate": 2.0}, "--max-error-rate must be a fraction"),
        ({"thresholds": ["p99<10ms@hot=33"]}, "33"),
        ({"concurrency": 0}, "--concurrency must be an integer >= 1"),
        ({"theta": 0.9, "thetas": "0.5"}, "not both"),
        ({"duration_s": 5.0}, "--duration"),
        ({"scale": 0.0}, "--scale must be > 0"),
    ],
)
def test_every_check_is_in_validate(options: dict[str, object], message: str) -> None:
    with pytest.raises(FeatbenchError, match=message):
        RunConfig.from_options(**options)  # type: ignore[arg-type]


def test_validate_checks_once_and_again_after_a_change() -> None:
    cfg = RunConfig(rate=200.0, duration_s=2.0, warmup_s=0.5, distribution="latest")
    once = cfg.validate().to_dict()
    assert cfg.validate().to_dict() == once
    assert cfg.requests == 400 and cfg.warmup == 100 and cfg.levels == (0.99,)
    assert "_validated" not in once  # the memo of what was checked is not configuration
    cfg.strategy_by_backend = {"redis": ()}  # changed after validation: checked again
    with pytest.raises(FeatbenchError, match="--strategy is empty"):
        cfg.validate()


def test_a_validated_config_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from featbench.runner import config as config_module

    calls: list[object] = []
    real = config_module.apply_load_config
    monkeypatch.setattr(config_module, "apply_load_config", lambda c: calls.append(c) or real(c))
    cfg = RunConfig.from_options(requests=30)
    cfg.validate()
    cfg.scale, cfg.scale_source = 0.1, "recorded in the target"  # the data's, set later
    cfg.validate()
    assert len(calls) == 1
    cfg.requests = 40
    cfg.validate()
    assert len(calls) == 2


def test_unknown_fields_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no field 'requestz'"):
        RunConfig.from_options(requestz=5)


def test_parse_strategies_keeps_per_store_lists() -> None:
    assert parse_strategies("pg=union,pg=serial,redis=pipeline") == (
        ("serial",),
        {"postgres": ("union", "serial"), "redis": ("pipeline",)},
    )


@pytest.fixture(scope="module")
def filled(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_api", SPEC) as name:
        yield name


def test_api_run_returns_the_run_without_reading_its_summary_again(
    pg_dsn: str, filled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = rundir.read_json

    def counting(path: Path) -> object:
        reads.append(path.name)
        return real(path)

    monkeypatch.setattr(rundir, "read_json", counting)
    cfg = RunConfig.from_options(ratios="100,0", requests=20, warmup=2, n_keys=200)
    run = api.run([pg_dsn], cfg, spec=SPEC, schema=filled, out=tmp_path, run_id="nb")
    assert run.status == "complete" and run.path == tmp_path / "nb"
    assert [r["requests"] for r in run.sections[0].levels] == [20, 20]
    assert reads.count(rundir.SUMMARY) == 0  # the runner's summary is the one used
    assert reads.count(rundir.MANIFEST) == 1  # read once, for the final status
    assert api.exit_code(run) == 0
    # --keys-from is checked through the reader before anything connects
    with pytest.raises(FeatbenchError, match=r"--keys-from: .* \(no manifest.json\)"):
        api.run([pg_dsn], cfg, spec=SPEC, schema=filled, out=tmp_path, keys_from=tmp_path)
