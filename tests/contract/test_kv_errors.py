"""Bad input against real Redis and DynamoDB servers: one-line errors, nothing lost, nothing leaked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
import redis

from featbench.backends.base import open_backend
from featbench.backends.embedded_redis import EmbeddedRedis, free_port
from featbench.errors import FeatbenchError, TargetError
from featbench.generate import keys_for
from featbench.spec import builtin_spec

from .conftest import unique_namespace
from .suite import SEED, custom_spec


def one_line(e: BaseException) -> str:
    s = str(e)
    assert s and "\n" not in s and "Traceback" not in s
    return s


@pytest.fixture
def small_redis(tmp_path) -> Iterator[EmbeddedRedis]:
    """A private embedded Redis (never the shared machine server) whose settings tests may change."""
    server = EmbeddedRedis(tmp_path / "small.rdb", port=free_port(), settings={"save": '""'})
    try:
        yield server
    finally:
        server.stop(save=False)


# -- Redis -----------------------------------------------------------------------------
def test_redis_full_is_one_line_and_keeps_what_was_written(small_redis: EmbeddedRedis) -> None:
    spec = builtin_spec()
    small_redis.client.config_set("maxmemory", 4 * 1024 * 1024)
    small_redis.client.config_set("maxmemory-policy", "noeviction")
    b = open_backend(small_redis.url, namespace="full", progress=False)
    with pytest.raises(FeatbenchError) as ei:
        b.load(spec, 0.02, SEED, streams=2)  # ~29,000 rows, ~14 MB: cannot fit in 4 MB
    msg = one_line(ei.value)
    assert "full" in msg and "maxmemory" in msg
    kept = small_redis.client.dbsize()
    assert kept > 1000  # what was written before the server filled up is still there
    with pytest.raises(FeatbenchError, match="partly loaded|missing"):
        b.check_tables(spec)
    # Make room: the same load finishes, and the data is right.
    small_redis.client.config_set("maxmemory", 0)
    r = b.load(spec, 0.02, SEED, streams=2)
    assert r.tables_loaded + r.tables_skipped == len(spec.tables)
    b.check_tables(spec)
    assert all(c.ok for c in b.verify(spec, 0.02, SEED, sample=4))
    b.close()


def test_redis_evicting_server_is_an_error(small_redis: EmbeddedRedis) -> None:
    small_redis.client.config_set("maxmemory", 3 * 1024 * 1024)
    small_redis.client.config_set("maxmemory-policy", "allkeys-lru")
    b = open_backend(small_redis.url, namespace="evict", progress=False)
    with pytest.raises(FeatbenchError) as ei:
        b.load(builtin_spec(), 0.02, SEED, streams=2)
    assert "evicted" in one_line(ei.value)


def test_redis_password_never_in_errors_or_describe(tmp_path) -> None:
    server = EmbeddedRedis(
        tmp_path / "auth.rdb",
        port=free_port(),
        settings={"save": '""', "requirepass": "s3cr3t-pw"},
        password="s3cr3t-pw",
    )
    try:
        good = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
        b = open_backend(good, namespace="auth", progress=False)
        assert "s3cr3t-pw" not in json.dumps(b.describe(), default=str)
        b.close()
        with pytest.raises(TargetError) as ei:
            open_backend(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
        assert "wrong-pw" not in one_line(ei.value)
        with pytest.raises(TargetError) as ei:
            open_backend("redis://:s3cr3t-pw@127.0.0.1:1/0")
        assert "s3cr3t-pw" not in one_line(ei.value)
    finally:
        server.stop(save=False)


def test_redis_refuses_foreign_keys_and_other_data(redis_url: str) -> None:
    ns = unique_namespace()
    spec = custom_spec()
    raw = redis.Redis.from_url(redis_url)
    raw.set(f"{ns}:someone-elses", "x")
    b = open_backend(redis_url, namespace=ns, progress=False)
    try:
        with pytest.raises(FeatbenchError, match="did not create") as ei:
            b.load(spec, 1.0, SEED, streams=1)
        one_line(ei.value)
        b.load(spec, 1.0, SEED, streams=1, force=True)
        assert raw.get(f"{ns}:someone-elses") == b"x"  # force overwrites tables, nothing else
        with pytest.raises(FeatbenchError, match="seed 7") as ei:
            b.load(spec, 1.0, SEED + 1, streams=1)  # would mix two data sets
        assert "--force" in one_line(ei.value)
        assert all(c.ok for c in b.verify(spec, 1.0, SEED, sample=3))  # nothing damaged
        r = b.load(spec, 1.0, SEED + 1, streams=1, force=True)
        assert r.tables_loaded == len(spec.tables)
        assert all(c.ok for c in b.verify(spec, 1.0, SEED + 1, sample=3))
    finally:
        b.drop()  # type: ignore[attr-defined]
        b.close()
    # drop removed featbench's keys and nothing else
    assert [k.decode() for k in raw.scan_iter(match=f"{ns}:*")] == [f"{ns}:someone-elses"]
    raw.delete(f"{ns}:someone-elses")


def test_redis_bad_url() -> None:
    with pytest.raises(FeatbenchError) as ei:
        open_backend("redis://127.0.0.1:notaport/0")
    one_line(ei.value)


# -- DynamoDB --------------------------------------------------------------------------
@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """An environment with no AWS credentials or region anywhere in the chain."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _endpoint() -> str:
    from featbench.backends.embedded_dynamodb import embedded_dynamodb

    return embedded_dynamodb().endpoint


def test_dynamodb_missing_credentials_names_the_variables(no_aws_env: None) -> None:
    with pytest.raises(TargetError) as ei:
        open_backend(f"dynamodb://?region=us-east-1&endpoint={_endpoint()}")
    msg = one_line(ei.value)
    assert "AWS_ACCESS_KEY_ID" in msg and "AWS_SECRET_ACCESS_KEY" in msg


def test_dynamodb_missing_region(no_aws_env: None) -> None:
    with pytest.raises(TargetError, match="region") as ei:
        open_backend(f"dynamodb://?endpoint={_endpoint()}")
    one_line(ei.value)


def test_dynamodb_credential_chain_and_missing_tables(
    no_aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFEATBENCHTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key")
    ns = unique_namespace()
    b = open_backend(f"dynamodb://?region=eu-west-1&endpoint={_endpoint()}&namespace={ns}")
    with pytest.raises(FeatbenchError, match="card_fingerprint__fraud_rates__30d") as ei:
        b.check_tables(builtin_spec())
    assert "missing" in one_line(ei.value)
    d = json.dumps(b.describe(), default=str)
    assert "very-secret-key" not in d and "eu-west-1" in d
    with pytest.raises(FeatbenchError, match="missing"):
        b.sample_keys(builtin_spec(), "card_fingerprint", 5, 1)


def test_dynamodb_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFEATBENCHTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key")
    with pytest.raises(TargetError, match="cannot reach") as ei:
        open_backend("dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:1")
    one_line(ei.value)


def test_dynamodb_refuses_foreign_table_and_other_data(dynamodb_url: str) -> None:
    ns = unique_namespace()
    spec = custom_spec()
    b = open_backend(dynamodb_url, namespace=ns, progress=False)
    foreign = f"{ns}.{spec.tables[0].table_name}"
    b.client.create_table(  # type: ignore[attr-defined]
        TableName=foreign,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        with pytest.raises(FeatbenchError, match="did not create") as ei:
            b.load(spec, 1.0, SEED, streams=1)
        assert foreign in one_line(ei.value)
        r = b.load(spec, 1.0, SEED, streams=2, force=True)  # replaces the foreign table
        assert r.tables_loaded == len(spec.tables)
        with pytest.raises(FeatbenchError, match="--force"):
            b.load(spec, 0.5, SEED, streams=1)
        again = b.load(spec, 1.0, SEED, streams=1)
        assert again.tables_skipped == len(spec.tables) and again.rows == 0
        assert all(c.ok for c in b.verify(spec, 1.0, SEED, sample=4))
        d = b.describe()
        assert set(d["item_bytes"]) == {t.table_name for t in spec.tables}
        assert all(v > 0 for v in d["item_bytes"].values())
        assert d["read_units_per_full_request"] == pytest.approx(0.5 * len(spec.tables))
        other = f"{ns}.not_featbench"
        b.client.create_table(  # type: ignore[attr-defined]
            TableName=other,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dropped = b.drop()  # type: ignore[attr-defined]
        assert sorted(dropped) == sorted([b.table_name(t) for t in spec.tables] + [f"{ns}--meta"])  # type: ignore[attr-defined]
        left = b.client.list_tables()["TableNames"]  # type: ignore[attr-defined]
        assert other in left and not any(n.startswith(ns) and n != other for n in left)
        b.client.delete_table(TableName=other)  # type: ignore[attr-defined]
    finally:
        b.drop()  # type: ignore[attr-defined]


def test_dynamodb_item_sizes_match_the_rules(dynamodb_url: str) -> None:
    """The recorded mean item size equals the size of the items as stored, by DynamoDB's rules."""
    from featbench.backends.typing_codec import ddb_item_size

    spec = custom_spec()
    b = open_backend(dynamodb_url, namespace=unique_namespace(), progress=False)
    try:
        b.load(spec, 1.0, SEED, streams=1)
        t = spec.table("device__risk__1d")
        items = b.client.scan(TableName=b.table_name(t))["Items"]  # type: ignore[attr-defined]
        assert len(items) == t.rows
        mean = sum(ddb_item_size(i) for i in items) / len(items)
        assert b.describe()["item_bytes"][t.table_name] == pytest.approx(mean)
    finally:
        b.drop()  # type: ignore[attr-defined]


def test_embedded_dynamodb_uses_no_process_credentials(no_aws_env: None) -> None:
    b = open_backend("dynamodb://embedded", namespace=unique_namespace())
    assert b.describe()["server"] == "moto (embedded)"
    assert boto3.session.Session().get_credentials() is None  # nothing leaked into the env


@pytest.mark.parametrize("strategy", ["pipeline", "serial"])
def test_redis_lost_connection_is_a_counted_error_then_reconnect(
    small_redis: EmbeddedRedis, strategy: str
) -> None:
    spec = custom_spec()
    b = open_backend(small_redis.url, namespace="lost", progress=False)
    b.load(spec, 1.0, SEED, streams=1)
    key = keys_for(spec, spec.tables_for("account")[0], SEED, 0, 1)[0].as_py()  # in all 3 tables
    s = b.session(spec, strategy)
    try:
        assert s.execute({"account": key}).error is None
        admin = redis.Redis.from_url(small_redis.url)
        killed = admin.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
        results = [s.execute({"account": key}) for _ in range(3)]  # no exception escapes
        assert results[0].error is not None and "ConnectionError" in results[0].error
        assert results[0].rows_found == 0
        assert all(r.error is None and r.rows_found == 3 for r in results[1:])  # reconnected
        assert s.stats["errors"] == 1  # type: ignore[attr-defined]
    finally:
        s.close()
        b.close()


# -- through the CLI: one line on stderr, exit code 2 ----------------------------------
@pytest.mark.parametrize(
    "args,words",
    [
        (
            ["load", "--target", "redis://:pw-in-url@127.0.0.1:1/0", "--scale", "0.001"],
            ["cannot reach Redis"],
        ),
        (
            ["verify", "--target", "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:1"],
            ["AWS_ACCESS_KEY_ID"],
        ),
        (["load", "--target", "dynamodb://embedded?layout=wide", "--scale", "0.001"], ["layout"]),
        (
            [
                "get",
                "--target",
                "dynamodb://embedded?namespace=nothing_here",
                "card_fingerprint=ab",
            ],
            ["missing"],
        ),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    args: list[str], words: list[str], no_aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from featbench.cli import main

    with pytest.raises(SystemExit) as ei:
        main(args)
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert all(w in err for w in words), err
    assert "pw-in-url" not in err
