"""Cost model against hand-computed examples, the prices file, and `featbench cost`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from featbench.cli import main
from featbench.measure import cost as cm
from featbench.measure.prices import PricesError, load_prices, prices_from_text
from featbench.report.costing import resolve_inputs
from featbench.results.reader import read_runs
from runfactory import make_run

# A complete price book with round numbers, so that hand computations below do not
# depend on the shipped defaults (which will be updated as vendors change prices).
TEST_PRICES = """
currency = "USD"
[lakebase.cu_hour]
price = 0.1
source = "test"
date = "2026-01-01"
[lakebase.storage_gb_month]
price = 0.3
source = "test"
date = "2026-01-01"
[lakebase.pitr_gb_month]
price = 0.2
source = "test"
date = "2026-01-01"
[dynamodb.read_request_units_million]
price = 0.25
source = "test"
date = "2026-01-01"
[dynamodb.storage_gb_month]
price = 0.25
source = "test"
date = "2026-01-01"
[dynamodb.rcu_hour]
price = 0.0001
source = "test"
date = "2026-01-01"
[elasticache.reserved_memory_fraction]
price = 0.25
source = "test"
date = "2026-01-01"
[elasticache.nodes.small]
price = 0.1
memory_gib = 4
source = "test"
date = "2026-01-01"
[elasticache.nodes.big]
price = 0.3
memory_gib = 16
source = "test"
date = "2026-01-01"
"""


@pytest.fixture
def book():
    return prices_from_text(TEST_PRICES, "test-prices")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(args)
    out, err = capsys.readouterr()
    return int(ei.value.code or 0), out, err


# -- the seed's own example ------------------------------------------------------------
def test_seed_example_lakebase_about_110_per_day():
    """32 CU × 24 h, 1,500 GB, 10 % churn, 7-day PITR with the issue's default prices."""
    prices = load_prices()
    c = cm.lakebase_cost(
        prices, qps=1000, cu=32, hours_per_day=24, storage_gb=1500, churn=0.10, pitr_days=7
    )
    compute = 32 * 24 * 0.111  # 85.248
    storage = 1500 * 0.35 / (365 / 12)  # 17.26
    pitr = 1500 * 0.10 * 7 * 0.20 / (365 / 12)  # 6.90
    by = {x.label: x.per_day for x in c.lines}
    assert by["compute"] == pytest.approx(85.248)
    assert by["storage"] == pytest.approx(storage)
    assert by["PITR history"] == pytest.approx(pitr)
    assert c.per_day == pytest.approx(compute + storage + pitr)
    assert c.per_day == pytest.approx(109.4, abs=0.1)
    assert 105 < c.per_day < 115  # "≈ $110/day"
    assert c.per_month == pytest.approx(c.per_day * 365 / 12)
    # 1000 req/s all day = 86.4 M requests
    assert c.per_million_requests == pytest.approx(c.per_day / 86.4)


def test_default_prices_are_the_issues_figures_with_sources():
    p = load_prices()
    assert p.value("lakebase.cu_hour") == 0.111
    assert p.value("lakebase.storage_gb_month") == 0.35
    assert p.value("lakebase.pitr_gb_month") == 0.20
    assert p.value("dynamodb.read_request_units_million") == 0.125
    assert p.value("dynamodb.storage_gb_month") == 0.25
    assert p.value("dynamodb.rcu_hour") == 0.00013
    for price in p.prices.values():
        assert price.source.strip() and price.date.strip()
    assert p.nodes and all(n.source and n.date and n.memory_gib > 0 for n in p.nodes)


def test_month_is_730_hours():
    assert cm.MONTH_DAYS * 24 == pytest.approx(730)


# -- hand-computed examples with the test price book --------------------------------------
def test_lakebase_hours_per_day_scale_compute_only(book):
    c = cm.lakebase_cost(
        book, qps=10, cu=4, hours_per_day=8, storage_gb=100, churn=0.5, pitr_days=2
    )
    # 4 × 8 × 0.1 = 3.2 ; 100 × 0.3 / 30.4167 = 0.98630 ; 100 × 0.5 × 2 × 0.2 / 30.4167 = 0.65753
    assert c.per_day == pytest.approx(3.2 + 30 / cm.MONTH_DAYS + 20 / cm.MONTH_DAYS)
    # 10 req/s for 8 h = 288,000 requests a day
    assert c.per_million_requests == pytest.approx(c.per_day / 0.288)
    assert c.per_qps_per_day == 0


@pytest.mark.parametrize(
    ("size", "consistency", "units"),
    [
        (0, "eventual", 0.5),  # a miss still costs the minimum
        (100, "eventual", 0.5),
        (4096, "strong", 1.0),
        (4097, "strong", 2.0),
        (10_000, "eventual", 1.5),
        (12_288, "strong", 3.0),
    ],
)
def test_rru_per_item(size, consistency, units):
    assert cm.rru_per_item(size, consistency) == units


def test_rru_per_request_rounds_each_item():
    # 30 items of 300 B eventually consistent: 30 × 0.5; one of 5000 B costs 2 units strong
    assert cm.rru_per_request([300] * 30) == 15
    assert cm.rru_per_request([300, 5000], "strong") == 3
    with pytest.raises(cm.CostInputError):
        cm.rru_per_item(100, "weak")


def test_dynamodb_on_demand(book):
    c = cm.dynamodb_on_demand_cost(book, qps=1000, hours_per_day=24, rru_per_req=15, storage_gb=100)
    reads = 1000 * 86400 * 15 * 0.25 / 1e6  # 324.0
    storage = 100 * 0.25 / cm.MONTH_DAYS
    assert c.per_day == pytest.approx(reads + storage)
    assert c.per_qps_per_day == pytest.approx(0.324)
    assert c.per_million_requests == pytest.approx((reads + storage) / 86.4)
    # Cost per million requests from reads alone: 15 RRU × $0.25 = $3.75
    assert c.lines[0].per_day / 86.4 == pytest.approx(3.75)


def test_dynamodb_provisioned_rounds_up_rcus(book):
    c = cm.dynamodb_provisioned_cost(
        book, qps=333, hours_per_day=12, rcu_per_req=1.5, storage_gb=0, headroom=1.2
    )
    rcus = math.ceil(333 * 1.5 * 1.2)  # 599.4 -> 600
    assert c.details["rcus"] == 600 == rcus
    assert c.per_day == pytest.approx(600 * 24 * 0.0001)  # billed 24 h, not 12
    with pytest.raises(cm.CostInputError, match="headroom"):
        cm.dynamodb_provisioned_cost(
            book, qps=1, hours_per_day=24, rcu_per_req=1, storage_gb=0, headroom=0.5
        )


def test_elasticache_picks_cheapest_node_type(book):
    # 20 M rows × 500 B × 1.1 = 10.245 GiB. small: 3 GiB usable -> 4 shards × $0.1 = $0.40/h;
    # big: 12 GiB usable -> 1 × $0.3 = $0.30/h -> big wins.
    c = cm.elasticache_cost(
        book, qps=100, hours_per_day=24, rows=20e6, memory_per_row=500, overhead=0.1
    )
    assert c.details["data_gib"] == pytest.approx(20e6 * 500 * 1.1 / 2**30)
    assert c.details["node_type"] == "big" and c.details["nodes"] == 1
    assert c.per_day == pytest.approx(0.3 * 24)
    # with one replica per shard the node count doubles
    r = cm.elasticache_cost(
        book, qps=100, hours_per_day=24, rows=20e6, memory_per_row=500, overhead=0.1, replicas=1
    )
    assert r.details["nodes"] == 2 and r.per_day == pytest.approx(0.6 * 24)
    # a small data set fits one small node
    s = cm.elasticache_cost(
        book, qps=100, hours_per_day=24, rows=1e6, memory_per_row=500, overhead=0.1
    )
    assert s.details["node_type"] == "small" and s.per_day == pytest.approx(2.4)


def test_break_even_rate_between_flat_and_linear(book):
    pg = cm.lakebase_cost(
        book, qps=100, cu=4, hours_per_day=24, storage_gb=0, churn=0, pitr_days=0
    )  # $9.60/day flat
    ddb = cm.dynamodb_on_demand_cost(book, qps=100, hours_per_day=24, rru_per_req=10, storage_gb=0)
    # on-demand: 10 RRU × 86400 s × $0.25/M = $0.216 per (req/s) per day -> equal at 9.6 / 0.216
    be = cm.break_even_qps(pg, ddb)
    assert be.qps == pytest.approx(9.6 / 0.216)
    assert be.cheaper_below == "dynamodb_on_demand"
    # check by evaluating both at the break-even rate
    at = cm.dynamodb_on_demand_cost(
        book, qps=be.qps, hours_per_day=24, rru_per_req=10, storage_gb=0
    )
    assert at.per_day == pytest.approx(pg.per_day)


def test_break_even_rate_none_when_one_always_cheaper(book):
    a = cm.dynamodb_on_demand_cost(book, qps=10, hours_per_day=24, rru_per_req=10, storage_gb=0)
    b = cm.dynamodb_provisioned_cost(book, qps=10, hours_per_day=24, rcu_per_req=10, storage_gb=0)
    be = cm.break_even_qps(a, b)
    assert be.qps is None and be.cheaper_below == "dynamodb_provisioned"


def test_break_even_skew_measured_interpolates():
    pg = [(100, 2.0), (50, 8.0), (0, 20.0)]
    other = [(100, 10.0), (50, 10.0), (0, 10.0)]
    c = cm.break_even_skew(pg, other, other_label="dynamodb")
    # diff -2 at 50 %, +10 at 0 % -> 50 - 50 × 2/12
    assert c.hot_pct == pytest.approx(50 - 50 * 2 / 12)
    assert c.basis == "measured" and c.pg_faster_above is True


def test_break_even_skew_reference_is_an_assumption():
    c = cm.break_even_skew([(100, 2.0), (0, 12.0)], 7.0)
    assert c.hot_pct == pytest.approx(50.0)
    assert c.basis == "assumption" and "assumption" in c.note


def test_break_even_skew_no_crossing_is_none_not_zero():
    c = cm.break_even_skew([(100, 1.0), (0, 2.0)], [(100, 5.0), (0, 6.0)])
    assert c.hot_pct is None and "no crossing" in c.note
    with pytest.raises(cm.CostInputError):
        cm.break_even_skew([(100, 1.0)], -3.0)


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (
            cm.lakebase_cost,
            {"qps": 0, "cu": 1, "hours_per_day": 24, "storage_gb": 1, "churn": 0.1, "pitr_days": 7},
        ),
        (
            cm.lakebase_cost,
            {"qps": 1, "cu": 1, "hours_per_day": 25, "storage_gb": 1, "churn": 0.1, "pitr_days": 7},
        ),
        (
            cm.lakebase_cost,
            {"qps": 1, "cu": 0, "hours_per_day": 24, "storage_gb": 1, "churn": 0.1, "pitr_days": 7},
        ),
        (
            cm.lakebase_cost,
            {"qps": 1, "cu": 1, "hours_per_day": 24, "storage_gb": 1, "churn": 1.5, "pitr_days": 7},
        ),
        (
            cm.dynamodb_on_demand_cost,
            {"qps": -1, "hours_per_day": 24, "rru_per_req": 1, "storage_gb": 1},
        ),
    ],
)
def test_bad_inputs_raise(book, fn, kw):
    with pytest.raises(cm.CostInputError):
        fn(book, **kw)


# -- prices file -------------------------------------------------------------------------
def test_user_prices_merge_over_defaults(tmp_path: Path):
    f = tmp_path / "p.toml"
    f.write_text(
        '[lakebase.cu_hour]\nprice = 0.2\n\n[elasticache.nodes."cache.x.huge"]\nprice = 9.0\nmemory_gib = 999\n'
    )
    p = load_prices(f)
    assert p.value("lakebase.cu_hour") == 0.2
    assert str(f) in p["lakebase.cu_hour"].source  # not the default's citation
    assert p.value("lakebase.storage_gb_month") == 0.35  # untouched default
    assert any(n.name == "cache.x.huge" for n in p.nodes)
    assert str(f) in p.origin


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[lakebase.cu_hour]\nprice = -0.1\n", "lakebase.cu_hour.*negative"),
        ("[lakebase.cu_hour]\nsource = 'x'\n", "lakebase.cu_hour: missing `price`"),
        ("[lakebase.cu_hour]\nprice = 'cheap'\n", "must be a number"),
        ("[lakebase.cu_hours]\nprice = 0.1\n", "unknown price lakebase.cu_hours"),
        ("[aurora.cu_hour]\nprice = 0.1\n", "unknown section"),
        ('[elasticache.nodes."n1"]\nprice = 1.0\n', "memory_gib"),
        ("[lakebase.cu_hour\nprice = 1\n", "not valid TOML"),
    ],
)
def test_bad_prices_file(tmp_path: Path, text: str, match: str):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(PricesError, match=match):
        load_prices(f)


def test_complete_prices_need_source_and_date():
    broken = TEST_PRICES.replace(
        'source = "test"\ndate = "2026-01-01"\n[lakebase.storage_gb_month]',
        "[lakebase.storage_gb_month]",
        1,
    )
    with pytest.raises(PricesError, match="lakebase.cu_hour: missing `source`"):
        prices_from_text(broken)


def test_missing_prices_file():
    with pytest.raises(PricesError, match="does not exist"):
        load_prices("/nonexistent/prices.toml")


# -- inputs from runs --------------------------------------------------------------------
def test_inputs_from_run_say_measured_or_estimated(tmp_path: Path):
    pg = make_run(tmp_path, "20261126T000000Z-aaaaaa", requests=50)
    ddb = make_run(
        tmp_path,
        "20261126T000001Z-bbbbbb",
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",
        strategies=("batch",),
        requests=50,
    )
    runs = read_runs([pg, ddb])
    inputs = resolve_inputs(runs, qps=100)
    assert inputs["item_bytes"].value == 310.0 and inputs["item_bytes"].source.startswith(
        "measured"
    )
    assert (
        inputs["rru_per_request"].value == 15.0
        and "ConsumedCapacity" in inputs["rru_per_request"].source
    )
    assert inputs["storage_gb"].source.startswith("measured")
    assert inputs["storage_gb"].value == pytest.approx(96_000_000 / 2**30)
    assert inputs["memory_per_row"].source.startswith("estimated")  # no Redis run
    assert inputs["tables"].value == 30
    # scale override: rows scale linearly, measured bytes scale with them
    big = resolve_inputs(runs, qps=100, scale=2.0)
    assert big["rows"].value == pytest.approx(inputs["rows"].value * 100, rel=0.01)
    assert big["storage_gb"].value == pytest.approx(inputs["storage_gb"].value * 100)


def test_inputs_without_run_are_estimated_from_spec():
    inputs = resolve_inputs([], qps=10)
    assert inputs["rows"].value == 1_468_000  # fraud-30 at scale 1
    assert inputs["rows"].source.startswith("estimated")
    assert inputs["item_bytes"].source.startswith("estimated")
    explicit = resolve_inputs([], qps=10, rows=1e9, item_bytes=5000, tables=10)
    assert explicit["rows"].source == "given"
    assert explicit["rru_per_request"].value == 10 * 1.0  # ceil(5000/4096)=2 × 0.5 each


# -- the CLI -------------------------------------------------------------------------------
@pytest.mark.parametrize("qps", ["0", "-5"])
def test_cli_cost_rejects_non_positive_qps(capsys, qps):
    code, out, err = run_cli(["cost", "--qps", qps], capsys)
    assert code == 2
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "--qps must be > 0" in lines[0]
    assert "Traceback" not in err


def test_cli_cost_bad_prices_is_one_line(tmp_path: Path, capsys):
    f = tmp_path / "p.toml"
    f.write_text("[dynamodb.rcu_hour]\nprice = -1\n")
    code, _out, err = run_cli(["cost", "--qps", "10", "--prices", str(f)], capsys)
    assert code == 2
    assert "dynamodb.rcu_hour" in err and "negative" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_cost_seed_example_json(capsys):
    code, out, _ = run_cli(
        [
            "cost",
            "--qps",
            "1000",
            "--cu",
            "32",
            "--storage-gb",
            "1500",
            "--churn",
            "0.1",
            "--pitr-days",
            "7",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    doc = json.loads(out)
    lb = next(o for o in doc["options"] if o["option"] == "lakebase")
    assert lb["per_day"] == pytest.approx(109.41, abs=0.02)
    assert {o["option"] for o in doc["options"]} == {
        "lakebase",
        "dynamodb_on_demand",
        "dynamodb_provisioned",
        "elasticache",
    }
    inputs = {i["name"]: i for i in doc["inputs"]}
    assert inputs["cu"]["source"] == "given" and inputs["hours_per_day"]["source"] == "default"
    assert doc["month_days"] == pytest.approx(365 / 12)
    assert all(p["source"] and p["date"] for p in doc["prices"]["prices"].values())


def test_cli_cost_from_run_table(tmp_path: Path, capsys):
    pg = make_run(
        tmp_path,
        requests=50,
        extra_targets=(("dynamodb", "dynamodb://?region=us-east-1", ("batch",)),),
    )
    code, out, _ = run_cli(
        ["cost", "--run", str(pg), "--qps", "500", "--reference-p99", "6"], capsys
    )
    assert code == 0
    for word in (
        "inputs",
        "Lakebase",
        "DynamoDB on-demand",
        "DynamoDB provisioned",
        "ElastiCache",
        "break-even request rate",
        "break-even skew",
        "measured ConsumedCapacity",
        "assumption",
    ):
        assert word in out, word


def test_cli_cost_run_dir_errors(tmp_path: Path, capsys):
    code, _, err = run_cli(["cost", "--qps", "1", "--run", str(tmp_path / "nope")], capsys)
    assert code == 2 and "not a directory" in err


def test_per_table_measurements_as_the_backends_record_them(tmp_path: Path):
    """DynamoDB and Redis backends record sizes per table (a dict, values may be None)."""
    from featbench.spec import builtin_spec, scaled_rows

    spec = builtin_spec("fraud-30")
    names = [t.table_name for t in spec.tables]
    big = {n: 5000.0 for n in names}  # 2 units strong, 1 unit eventual per item
    ddb = make_run(
        tmp_path,
        "20261126T000000Z-dddddd",
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",
        strategies=("batch",),
        requests=30,
        ratios=(100, 0),
        server={"item_bytes": big},
        consumed=False,
    )
    inputs = resolve_inputs(read_runs([ddb]), qps=10)
    assert inputs["item_bytes"].value == 5000 and inputs["item_bytes"].source.startswith("measured")
    assert inputs["rru_per_request"].value == 30 * 1.0 and inputs[
        "rru_per_request"
    ].source.startswith("computed")
    # one table unmeasured (None): the mean of the measured ones is used for every table
    partial = dict(big, **{names[0]: None})
    ddb2 = make_run(
        tmp_path,
        "20261126T000001Z-eeeeee",
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",
        strategies=("batch",),
        requests=30,
        ratios=(100, 0),
        server={"item_bytes": partial},
        consumed=False,
    )
    assert resolve_inputs(read_runs([ddb2]), qps=10)["item_bytes"].value == 5000
    # Redis memory per row: weighted by each table's rows
    mem = {n: (100.0 if i == 0 else 500.0) for i, n in enumerate(names)}
    rd = make_run(
        tmp_path,
        "20261126T000002Z-ffffff",
        backend="redis",
        target="redis://127.0.0.1:6379/0",
        strategies=("pipeline",),
        requests=30,
        ratios=(100, 0),
        server={"memory_per_row_bytes": mem},
        scale=1.0,
    )
    rows = {t.table_name: scaled_rows(t, 1.0) for t in spec.tables}
    want = sum(mem[n] * rows[n] for n in names) / sum(rows.values())
    got = resolve_inputs(read_runs([rd]), qps=10)["memory_per_row"]
    assert got.value == pytest.approx(want) and got.source.startswith("measured")


# -- where every figure comes from (issue 11, point 7) ----------------------------------
BASES = {"measured", "computed", "given", "default"}


def test_every_figure_of_cost_json_says_its_basis(tmp_path: Path, capsys):
    prices = tmp_path / "p.toml"
    prices.write_text(
        '[lakebase.cu_hour]\nprice = 0.2\n[elasticache.nodes."cache.t4g.micro"]\nprice = 0.01\nmemory_gib = 0.5\n'
    )
    ddb = make_run(
        tmp_path,
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",  # AWS itself: its units are measured
        strategies=("batch",),
        requests=50,
    )
    code, out, _ = run_cli(
        ["cost", "--qps", "100", "--cu", "4", "--run", str(ddb), "--prices", str(prices),
         "--reference-p99", "5", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    inputs = {i["name"]: i for i in doc["inputs"]}
    assert all(i["basis"] in BASES for i in doc["inputs"])
    assert inputs["cu"]["basis"] == "given" and inputs["hours_per_day"]["basis"] == "default"
    assert inputs["rows"]["basis"] == "computed"  # from the run's spec and scale
    assert inputs["item_bytes"]["basis"] == "measured"
    assert inputs["rru_per_request"]["basis"] == "measured"
    assert inputs["dynamodb_storage_gb"]["basis"] == "computed"
    assert all(o["basis"] == "computed" for o in doc["options"])
    assert all(b["basis"] == "computed" for b in doc["break_even_qps"])
    assert doc["break_even_skew"] == [] or all(
        s["basis"] == "computed" and s["p99_basis"] in ("measured", "given")
        for s in doc["break_even_skew"]
    )
    p = doc["prices"]["prices"]
    assert p["lakebase.cu_hour"]["basis"] == "given" and p["lakebase.cu_hour"]["price"] == 0.2
    assert {v["basis"] for k, v in p.items() if k != "lakebase.cu_hour"} == {"default"}
    nodes = doc["prices"]["elasticache_nodes"]
    assert nodes["cache.t4g.micro"]["basis"] == "given"
    assert {v["basis"] for k, v in nodes.items() if k != "cache.t4g.micro"} == {"default"}
    # and the text output has the basis column and the prices with theirs
    code, out, _ = run_cli(["cost", "--qps", "100", "--prices", str(prices)], capsys)
    assert code == 0
    for word in ("basis", "computed", "default", "given", "prices", "lakebase.cu_hour"):
        assert word in out, word


@pytest.mark.parametrize(
    "server, label",
    [
        ({"embedded": True, "server": "moto (embedded)"}, "emulated"),  # a run before labels
        ({"endpoint": "http://127.0.0.1:8000"}, "emulated"),  # DynamoDB Local, LocalStack
        ({"endpoint": "https://dynamodb.eu-west-1.amazonaws.com"}, "measured"),
        ({}, "measured"),  # no endpoint: AWS's own
        ({"capacity_units": "emulated"}, "emulated"),  # as featbench records it now
    ],
)
def test_emulated_read_units_are_not_priced(tmp_path: Path, server, label):
    assert cm.capacity_units_label("dynamodb", server) == label
    assert cm.capacity_units_label("postgres", server) is None
    run = make_run(
        tmp_path,
        backend="dynamodb",
        target="dynamodb://?region=us-east-1",
        strategies=("batch",),
        requests=50,
        server=server,
    )
    doc = json.loads((run / "summary.json").read_text())
    for sec in doc["sections"]:  # the store reported 40 units a request
        for r in sec["ratios"]:
            r["consumed_rcu_per_request"] = 40.0
    doc["ratios"] = doc["sections"][0]["ratios"]
    (run / "summary.json").write_text(json.dumps(doc))
    rru = resolve_inputs(read_runs([run]), qps=100)["rru_per_request"]
    if label == "measured":
        assert rru.basis == "measured" and "ConsumedCapacity" in rru.source
        assert rru.value == 40.0
    else:
        # the emulator's 40 units are replaced by the computed 30 items × 0.5
        assert rru.basis == "computed" and "emulator" in rru.source and "not used" in rru.source
        assert rru.value == 15.0


def test_cost_of_a_run_sizes_from_its_recorded_scale(tmp_path: Path):
    from featbench.spec import builtin_spec, scaled_rows

    run = make_run(tmp_path, requests=50, scale=0.01)
    inputs = resolve_inputs(read_runs([run]), qps=100)
    want = sum(scaled_rows(t, 0.01) for t in builtin_spec("fraud-30").tables)
    assert inputs["rows"].value == want and "scale 0.01" in inputs["rows"].source
