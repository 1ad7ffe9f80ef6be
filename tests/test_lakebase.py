"""`lakebase://` targets (issue 14) through the real databricks-sdk, against a local HTTP
server answering the Databricks REST calls (tests/databricks_fake.py) and a PostgreSQL of
the tests' own that checks passwords: the tokens Databricks hands out are the role's
passwords, each new one replacing the last, as if the previous had expired.

- load and a run with two client processes work; the manifest records the instance, its
  capacity and nodes, never a token; `cost --run` prices the recorded capacity;
- a token is replaced once it nears its (shortened) expiry, and when a login refuses it;
- a token refused although just generated, a missing or stopped instance, no permission,
  no workspace authentication and a missing SDK are each one line naming the cause.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from featbench import api
from featbench.backends.postgres import PostgresBackend
from featbench.errors import TargetError
from featbench.results.validate import validate_run
from featbench.runner.benchmark import run_benchmark
from featbench.runner.config import RunConfig
from featbench.target import parse_target
from pg_auth_server import AuthServer
from run_helpers import tiny_spec
from test_run_cli import cli, one_line_error

pytest.importorskip("databricks.sdk", reason="the lakebase extra (databricks-sdk)")

from databricks_fake import CREDENTIALS, INSTANCES, FakeDatabricks, FakeWorkspace  # noqa: E402

pytestmark = pytest.mark.integration

SPEC = tiny_spec(2, tables_per_entity=(2, 1), rows=300, name="lake2")
USER = "someone@example.com"  # a Databricks identity: an e-mail address as role name


def _instance(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "state": "AVAILABLE",
        "capacity": "CU_2",
        "effective_capacity": "CU_2",
        "node_count": 2,
        "effective_node_count": 2,
        "read_write_dns": "127.0.0.1",
        "pg_version": "PG_VERSION_16",
        **kw,
    }


@pytest.fixture(scope="module")
def auth() -> Iterator[AuthServer]:
    srv = AuthServer()
    try:
        srv.role(USER, "not-a-token-yet")
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def workspace(auth: AuthServer) -> Iterator[FakeWorkspace]:
    ws = FakeWorkspace(
        instances={
            "bench": _instance("bench"),
            "sleepy": _instance("sleepy", state="STOPPED", stopped=True),
            "secret": {**_instance("secret"), "_forbidden": True},
        },
        user_name=USER,
    )
    srv = FakeDatabricks(ws)
    try:
        yield ws
    finally:
        srv.close()


@pytest.fixture
def databricks(
    workspace: FakeWorkspace, auth: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FakeWorkspace:
    """The SDK's configuration pointing at the fake workspace (inherited by client
    processes); tokens become the role's password as they are handed out."""
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-featbench-test")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no.databrickscfg"))
    workspace.on_token = lambda tok: auth.set_password(USER, tok)
    workspace.token_lifetime_s = 3600.0
    workspace.refuse_credentials = None
    workspace.calls.clear()
    workspace.tokens.clear()
    return workspace


def _url(auth: AuthServer, instance: str = "bench") -> str:
    return f"lakebase://{instance}/postgres?port={auth.port}"


def _spec_file(auth: AuthServer) -> str:
    p = auth.root / "lake2.toml"
    if not p.exists():
        p.write_text(SPEC.to_toml())
    return str(p)


def _files_hold(root: Path, secrets: list[str]) -> list[str]:
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]


def test_load_and_run_against_an_instance(
    databricks: FakeWorkspace, auth: AuthServer, tmp_path: Path, capsys: Any
) -> None:
    schema = f"fbt_lake_{uuid.uuid4().hex[:8]}"
    res = api.load(_url(auth), spec=_spec_file(auth), streams=2, schema=schema, chunk_rows=100)
    assert res.ok and res.target == _url(auth)
    b = PostgresBackend(parse_target(_url(auth)), schema=schema)
    cfg = RunConfig(
        ratios=(100, 0), requests=100, warmup=10, n_keys=200, io_sample_every=0, concurrency=2,
        strategies=("serial",),
    )  # fmt: skip
    try:
        out = run_benchmark([b], SPEC, cfg, out=tmp_path / "runs", run_id="lake")
    finally:
        b.close()
    assert out.status == "complete" and validate_run(out.path) == []
    assert all(r["errors"] == 0 for r in out.summary["ratios"])
    (target,) = json.loads((out.path / "manifest.json").read_text())["targets"]
    assert target["target"].startswith("lakebase://bench/postgres")
    lb = target["server"]["lakebase"]
    assert lb["instance"] == "bench" and lb["capacity"] == "CU_2" and lb["capacity_cu"] == 2.0
    assert lb["node_count"] == 2 and lb["state"] == "AVAILABLE" and lb["user"] == USER
    assert target["server"]["user"] == USER
    # what the SDK asked: the instance, the identity, and tokens for that instance only
    gets = databricks.paths("GET")
    assert f"{INSTANCES}bench" in gets and "/api/2.0/preview/scim/v2/Me" in gets
    posts = [body for m, p, body in databricks.calls if m == "POST" and p == CREDENTIALS]
    assert posts and all(b["instance_names"] == ["bench"] for b in posts)
    assert databricks.tokens and _files_hold(tmp_path / "runs", databricks.tokens) == []
    # cost --run prices the recorded compute: CU_2 × 2 nodes
    code, out_text, _ = cli(capsys, "cost", "--run", out.path, "--qps", "100", "--json")
    assert code == 0
    (cu,) = [i for i in json.loads(out_text)["inputs"] if i["name"] == "cu"]
    assert cu["value"] == 4.0 and cu["basis"] == "measured" and "bench" in cu["source"]


def test_a_token_is_replaced_before_it_expires_and_when_refused(
    databricks: FakeWorkspace, auth: AuthServer
) -> None:
    databricks.token_lifetime_s = 2.0  # replaced from 1.5 s on (a quarter before expiry)
    with PostgresBackend(parse_target(_url(auth))) as b:
        assert len(databricks.tokens) == 1
        b.connect().close()
        assert len(databricks.tokens) == 1  # still fresh: cached
        time.sleep(1.6)
        # a new connection after that gets a new token; the old one no longer logs in
        # (the fake workspace made the new one the role's only password)
        with b.connect() as c:
            assert c.execute("SELECT current_user").fetchone() == (USER,)
        assert len(databricks.tokens) == 2
        databricks.token_lifetime_s = 3600.0
        # refused while cached (revoked, or expired early): replaced once, transparently
        auth.set_password(USER, "revoked")
        b.connect().close()
        assert len(databricks.tokens) == 3
        b.connect().close()  # an hour's token: cached
        assert len(databricks.tokens) == 3
        # refused although just generated: one line naming the cause, never the token
        databricks.on_token = None
        auth.set_password(USER, "something-else")
        with pytest.raises(TargetError) as ei:
            b.connect()
    msg = str(ei.value)
    assert "refused a Lakebase token generated just now" in msg and USER in msg
    assert "password authentication failed" in msg
    assert not any(t in msg for t in databricks.tokens)


@pytest.mark.parametrize(
    "instance, words",
    [
        ("missing", ("Lakebase instance 'missing' not found",)),
        ("sleepy", ("'sleepy' is stopped", "start it")),
        ("secret", ("no permission", "'secret'")),
    ],
)
def test_instance_errors_are_one_line(
    databricks: FakeWorkspace, auth: AuthServer, capsys: Any, instance: str, words: tuple[str, ...]
) -> None:
    code, _, err = cli(capsys, "verify", "--target", _url(auth, instance))
    msg = one_line_error(code, err)
    assert all(w in msg for w in words), msg


def test_credential_refusal_and_missing_auth_and_sdk(
    databricks: FakeWorkspace,
    auth: AuthServer,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    databricks.refuse_credentials = "UNAUTHENTICATED"
    code, _, err = cli(capsys, "verify", "--target", _url(auth))
    msg = one_line_error(code, err)
    assert "refused the workspace credentials" in msg and "generate a database credential" in msg
    databricks.refuse_credentials = None
    # a password does not belong in a lakebase:// URL; --password-command does not apply
    code, _, err = cli(capsys, "verify", "--target", f"lakebase://x:pw@bench?port={auth.port}")
    assert "takes no password" in one_line_error(code, err)
    code, _, err = cli(capsys, "verify", "--target", _url(auth), "--password-command", "echo x")
    assert "--password-command applies to postgresql://" in one_line_error(code, err)
    # no workspace authentication anywhere
    monkeypatch.delenv("DATABRICKS_HOST")
    monkeypatch.delenv("DATABRICKS_TOKEN")
    code, _, err = cli(capsys, "verify", "--target", _url(auth))
    assert "no usable Databricks workspace authentication" in one_line_error(code, err)
    # the SDK not installed: the extra is named
    monkeypatch.setitem(sys.modules, "databricks.sdk", None)
    code, _, err = cli(capsys, "verify", "--target", _url(auth))
    assert "pip install 'featbench[lakebase]'" in one_line_error(code, err)
