"""Passwords that change, and TLS by default (issue 14), against a PostgreSQL of the tests'
own that checks passwords (scram-sha-256):

- `--password-command`: during a run with two client processes the role's password
  changes and the clients' backends are terminated: the run completes, the terminated
  requests are errors, every later request succeeds, no file of the run holds a password;
  the same for a load, interrupted that way and run again;
- a password that is refused although just obtained is one line naming the cause;
- TLS: sslmode=require added off loopback, verify-full with a CA file, the TLS version
  in the manifest (the system's PostgreSQL: pgserver's build has no TLS).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench import api
from featbench.backends import pgconn
from featbench.backends.pgauth import CommandCredentials
from featbench.backends.pgload.state import LOAD_CHUNKS
from featbench.backends.postgres import PostgresBackend
from featbench.errors import FeatbenchError, TargetError
from featbench.results.validate import validate_run
from featbench.runner.benchmark import run_benchmark
from featbench.runner.config import RunConfig
from featbench.target import parse_target
from pg_auth_server import AuthServer, system_bindir
from run_helpers import tiny_spec
from test_run_cli import cli, one_line_error

pytestmark = pytest.mark.integration

SPEC = tiny_spec(2, tables_per_entity=(2, 1), rows=300, name="creds2")
USER = "fb_rotating"
P1, P2 = "first-Secret-81d3", "second-Secret-c07e"


@pytest.fixture(scope="module")
def auth() -> Iterator[AuthServer]:
    srv = AuthServer()
    try:
        srv.role(USER, P1)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def pw(auth: AuthServer, tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(password file, log of the command's runs, the command); the role's password is P1
    on entry and on exit."""
    auth.set_password(USER, P1)
    f, log = tmp_path / "password", tmp_path / "ran"
    f.write_text(P1 + "\n")
    yield f, log, f"echo ran >> {log}; cat {f}"
    auth.set_password(USER, P1)


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _rotate(auth: AuthServer, pw_file: Path, pids: list[int]) -> None:
    """What an operator (or a token's expiry) does: a new password, then old sessions gone."""
    auth.set_password(USER, P2)
    pw_file.write_text(P2 + "\n")
    with auth.admin() as c:
        for pid in pids:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _waiting_on_lock(auth: AuthServer, like: str, n: int, exclude: int = 0) -> list[int]:
    """The pids of USER's backends waiting for a lock, once there are `n` (60 s at most)."""
    deadline = time.monotonic() + 60
    with auth.admin() as c:
        while time.monotonic() < deadline:
            pids = [
                r[0]
                for r in c.execute(
                    "SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> %s"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    (USER, exclude, like),
                ).fetchall()
            ]
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
    raise AssertionError(f"no {n} backends of {USER} waited for the lock")


def _files_hold(root: Path, *secrets: str) -> list[str]:
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]


@pytest.fixture(scope="module")
def loaded(auth: AuthServer) -> str:
    """SPEC loaded by featbench as USER (static password in the URL)."""
    schema = f"fbt_pw_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{USER}:{P1}@127.0.0.1:{auth.port}/postgres"
    auth.set_password(USER, P1)
    res = api.load(url, spec=_spec_file(auth), streams=1, schema=schema)
    assert res.ok
    return schema


def _spec_file(auth: AuthServer) -> str:
    p = auth.root / "creds2.toml"
    if not p.exists():
        p.write_text(SPEC.to_toml())
    return str(p)


class _RotateMidLevel:
    """At the start of the measured level: lock the first table (ACCESS EXCLUSIVE) so that
    each client's first measured request waits; once both wait, rotate the password,
    terminate their backends, release the lock."""

    def __init__(self, auth: AuthServer, schema: str, pw_file: Path, main_pid: int) -> None:
        self.auth, self.schema, self.pw_file, self.main_pid = auth, schema, pw_file, main_pid
        self.killed: list[int] = []
        self.thread: threading.Thread | None = None

    def on_level_start(self, ev: Any) -> None:
        if self.thread is not None:
            return
        holder = self.auth.admin()
        holder.execute("BEGIN")
        holder.execute(
            sql.SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(self.schema), sql.Identifier(SPEC.tables[0].table_name)
            )
        )

        def rotate() -> None:
            try:
                pids = _waiting_on_lock(self.auth, "%", 2, exclude=self.main_pid)
                _rotate(self.auth, self.pw_file, pids)
                self.killed = pids
            finally:
                holder.execute("COMMIT")
                holder.close()

        self.thread = threading.Thread(target=rotate, daemon=True)
        self.thread.start()


def test_a_run_survives_a_password_rotation(
    auth: AuthServer, loaded: str, pw: tuple[Path, Path, str], tmp_path: Path, capsys: Any
) -> None:
    pw_file, log, cmd = pw
    b = PostgresBackend(parse_target(auth.dsn(USER)), schema=loaded, password_command=cmd)
    rot = _RotateMidLevel(auth, loaded, pw_file, b.conn.pgconn.backend_pid)
    cfg = RunConfig(
        ratios=(50,), requests=300, warmup=0, n_keys=200, io_sample_every=0, concurrency=2,
        strategies=("serial",),
    )  # fmt: skip
    try:
        out = run_benchmark([b], SPEC, cfg, out=tmp_path / "runs", run_id="rot", listeners=[rot])
    finally:
        b.close()
    assert rot.thread is not None
    rot.thread.join(timeout=60)
    assert len(rot.killed) == 2
    assert out.status == "complete" and validate_run(out.path) == []
    (ratio,) = out.summary["ratios"]
    assert ratio["requests"] == 300
    assert 1 <= ratio["errors"] <= 4  # the request each terminated client had in flight
    req = pq.read_table(out.path / "requests.parquet").to_pylist()
    last_error = max(r["seq"] for r in req if r["error"])
    later = [r for r in req if r["seq"] > last_error]
    assert later and all(r["error"] is None for r in later)
    # the command ran again after the rotation (clients re-ran it once their login failed)
    assert _runs(log) >= 2
    assert _files_hold(tmp_path / "runs", P1, P2) == []
    (target,) = json.loads((out.path / "manifest.json").read_text())["targets"]
    assert target["server"]["login"] == "--password-command"
    assert target["server"]["tls"]["ssl"] is False  # loopback: no TLS unless asked
    # not a Lakebase run: its compute is priced at the default capacity, and it says so
    code, text, _ = cli(capsys, "cost", "--run", out.path, "--qps", "10", "--json")
    doc = json.loads(text)
    (cu,) = [i for i in doc["inputs"] if i["name"] == "cu"]
    assert code == 0 and cu["value"] == 1.0 and cu["basis"] == "default"
    assert any("no run was against a lakebase:// target" in n for n in doc["notes"])


def test_a_load_interrupted_by_a_rotation_resumes(
    auth: AuthServer, pw: tuple[Path, Path, str]
) -> None:
    pw_file, log, cmd = pw
    schema = f"fbt_pwl_{uuid.uuid4().hex[:8]}"
    chunks = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(LOAD_CHUNKS))
    killed: list[int] = []

    def interrupt() -> None:
        # Once a chunk is done, hold the chunk ledger so that no stream can claim the
        # next one: the load cannot finish while the streams wait; then rotate and kill.
        with auth.admin() as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if c.execute(sql.SQL("SELECT count(*) FROM {}").format(chunks)).fetchone()[0]:
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                time.sleep(0.02)
            c.execute("BEGIN")
            c.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(chunks))
            try:
                pids = _waiting_on_lock(auth, "INSERT INTO%", 1)
                _rotate(auth, pw_file, pids)
                killed.extend(pids)
            finally:
                c.execute("COMMIT")

    th = threading.Thread(target=interrupt, daemon=True)
    th.start()
    kw: dict[str, Any] = dict(spec=_spec_file(auth), streams=2, schema=schema, chunk_rows=40)
    with pytest.raises(FeatbenchError) as ei:
        api.load(auth.dsn(USER), password_command=cmd, **kw)
    th.join(timeout=60)
    assert killed
    assert P1 not in str(ei.value) and P2 not in str(ei.value)
    with auth.admin() as c:
        done = c.execute(sql.SQL("SELECT count(*) FROM {}").format(chunks)).fetchone()[0]
    assert done >= 1
    res = api.load(auth.dsn(USER), password_command=cmd, **kw)  # the command now prints P2
    assert res.ok and all(c.ok for c in res.report.checks)
    assert P1 not in json.dumps(res.as_dict()) and P2 not in json.dumps(res.as_dict())


def test_a_refused_fresh_password_is_one_line_naming_the_cause(
    auth: AuthServer, capsys: Any, tmp_path: Path
) -> None:
    code, _, err = cli(
        capsys, "get", "ent0=ab", "--target", auth.dsn(USER), "--spec", _spec_file(auth),
        "--password-command", "echo not-the-password-5a1f",
    )  # fmt: skip
    msg = one_line_error(code, err)
    assert "--password-command" in msg and "password authentication failed" in msg
    assert "not-the-password-5a1f" not in err
    # a command that fails says so, with its exit code
    code, _, err = cli(
        capsys, "get", "ent0=ab", "--target", auth.dsn(USER), "--spec", _spec_file(auth),
        "--password-command", f"cat {tmp_path / 'missing'}",
    )  # fmt: skip
    assert "--password-command failed (exit code 1)" in one_line_error(code, err)


def test_a_cached_password_refused_is_replaced_once(
    auth: AuthServer, pw: tuple[Path, Path, str]
) -> None:
    pw_file, log, cmd = pw
    ep = pgconn.PgEndpoint(auth.dsn(USER), auth.dsn(USER), CommandCredentials(cmd))
    pgconn.connect(ep).close()
    pgconn.connect(ep).close()
    assert _runs(log) == 1  # cached
    auth.set_password(USER, P2)
    pw_file.write_text(P2)
    with pgconn.connect(ep) as c:
        assert c.execute("SELECT current_user").fetchone() == (USER,)
    assert _runs(log) == 2
    auth.set_password(USER, P1)  # the command still prints P2: refused although fresh
    with pytest.raises(TargetError, match="refused the password from --password-command"):
        pgconn.connect(ep)
    assert _runs(log) == 3


# -- TLS --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, added",
    [
        ("postgresql://u@db.example.com/x", True),
        ("postgresql://u@10.1.2.3:5432/x?application_name=a", True),
        ("postgresql://u@127.0.0.1/x", False),
        ("postgresql://u@localhost/x", False),
        ("postgresql://u@[::1]:5433/x", False),
        ("postgresql://u@/x?host=/var/run/postgresql", False),
        ("postgresql://u@db.example.com/x?sslmode=disable", False),
        ("postgresql://u@db.example.com/x?sslmode=verify-full&sslrootcert=system", False),
    ],
)
def test_sslmode_require_is_the_default_off_this_machine(url: str, added: bool) -> None:
    out = pgconn.with_tls_default(url)
    assert (out != url) is added
    if added:
        assert out.endswith("sslmode=require")


def test_pgsslmode_and_a_missing_ca_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGSSLMODE", "disable")
    assert pgconn.with_tls_default("postgresql://u@db.example.com/x") == (
        "postgresql://u@db.example.com/x"
    )
    with pytest.raises(TargetError, match="sslrootcert=.* is not a file"):
        pgconn.with_tls_default(
            f"postgresql://u@db.example.com/x?sslmode=verify-full&sslrootcert={tmp_path}/ca.pem"
        )


def _own_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if not loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            ip = str(s.getsockname()[0])
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


@pytest.fixture(scope="module")
def tls_server() -> Iterator[AuthServer]:
    if system_bindir() is None:
        pytest.skip("no system PostgreSQL binaries (pgserver's build has no TLS)")
    srv = AuthServer(tls=True, listen="*")
    try:
        srv.role(USER, P1)
        yield srv
    finally:
        srv.stop()


def test_verify_full_with_a_ca_file_and_the_tls_version_recorded(
    tls_server: AuthServer, tmp_path: Path
) -> None:
    url = tls_server.dsn(
        f"{USER}:{P1}", host="localhost", sslmode="verify-full", sslrootcert=str(tls_server.ca)
    )
    with PostgresBackend(parse_target(url), schema="fbt_tls") as b:
        tls = b.describe()["tls"]
    assert tls["ssl"] is True and tls["version"].startswith("TLSv1.")
    # verify-full refuses a certificate its CA file did not sign
    from pg_auth_server import make_ca_and_cert

    (tmp_path / "other").mkdir()
    other_ca, _, _ = make_ca_and_cert(tmp_path / "other")
    bad = tls_server.dsn(
        f"{USER}:{P1}", host="localhost", sslmode="verify-full", sslrootcert=str(other_ca)
    )
    with pytest.raises(TargetError, match="TLS with .* failed .*sslrootcert") as ei:
        PostgresBackend(parse_target(bad))
    assert P1 not in str(ei.value)
    # the URL's sslmode wins (here: plain text), and the manifest says so
    plain = tls_server.dsn(f"{USER}:{P1}", sslmode="disable")
    with PostgresBackend(parse_target(plain)) as b:
        assert b.describe()["tls"] == {"ssl": False, "version": None, "cipher": None, "bits": None}


def test_tls_is_on_by_default_to_an_address_off_loopback(tls_server: AuthServer) -> None:
    ip = _own_address()
    if ip is None:
        pytest.skip("this machine has no address besides loopback")
    with PostgresBackend(parse_target(tls_server.dsn(f"{USER}:{P1}", host=ip))) as b:
        tls = b.describe()["tls"]
    assert tls["ssl"] is True and tls["version"].startswith("TLSv1.")


# -- lakebase:// URLs (parsing needs no SDK) ---------------------------------------------
def test_lakebase_urls() -> None:
    from featbench.backends import lakebase

    u = lakebase.parse("lakebase://jane.doe%40example.com@my-inst?profile=dev&sslmode=verify-full")
    assert (u.instance, u.database, u.user, u.profile) == (
        "my-inst", "databricks_postgres", "jane.doe@example.com", "dev",
    )  # fmt: skip
    assert u.libpq == (("sslmode", "verify-full"),)
    assert lakebase.parse("lakebase://inst/features").database == "features"
    assert lakebase.parse("lakebase://inst").user is None  # the current identity
    assert lakebase.capacity_cu("CU_4") == 4.0 and lakebase.capacity_cu(None) is None
    for bad, words in [
        ("lakebase://u:secret@inst/db", "takes no password"),
        ("lakebase:///db", "needs the instance name"),
    ]:
        with pytest.raises(TargetError, match=words) as ei:
            lakebase.parse(bad)
        assert "secret" not in str(ei.value)
    assert parse_target("lakebase://inst/db").kind == "postgres"
