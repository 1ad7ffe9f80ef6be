"""The embedded PostgreSQL (pgserver): settings, reuse, stop, and errors that only a server
featbench controls can produce here (a wrong password: the system server trusts everyone)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from featbench.backends import embedded
from featbench.backends.postgres import PostgresBackend
from featbench.cli import main
from featbench.errors import FeatbenchError, TargetError
from featbench.target import parse_target
from run_helpers import remove_server_dir, server_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """A private FEATBENCH_HOME for this module; the server is stopped and purged afterwards."""
    d = server_dir("fbhome")
    old = os.environ.get("FEATBENCH_HOME")
    os.environ["FEATBENCH_HOME"] = str(d)
    try:
        yield d
    finally:
        try:
            embedded.stop(purge=True)
        finally:
            remove_server_dir(d)
            if old is None:
                os.environ.pop("FEATBENCH_HOME", None)
            else:
                os.environ["FEATBENCH_HOME"] = old


@pytest.fixture(scope="module")
def server(home: Path) -> embedded.EmbeddedServer:
    return embedded.start()


def test_settings_applied_and_described(server: embedded.EmbeddedServer, home: Path) -> None:
    assert server.pgdata == home / "pg"
    assert server.settings["shared_buffers"] == "32MB"
    assert server.settings["jit"] == "off"
    b = PostgresBackend(parse_target("embedded"))
    try:
        d = b.describe()
    finally:
        b.close()
    assert d["embedded"] is True and d["target"] == "embedded"
    assert d["settings"]["shared_buffers"] == "32MB"
    assert d["featbench_settings"] == server.settings
    assert int(d["server_version_num"]) >= 150000


def test_reused_not_restarted(server: embedded.EmbeddedServer) -> None:
    again = embedded.start()
    assert again.pid == server.pid and again.uri == server.uri
    st = embedded.status()
    assert st["running"] and st["pid"] == server.pid


def test_load_and_verify_on_embedded_via_cli(
    server: embedded.EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["load", "--target", "embedded", "--scale", "0.002", "--streams", "2", "--json"])
    assert ei.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["tables_loaded"] == 30 and doc["target"] == "embedded"
    with pytest.raises(SystemExit) as ei:
        main(["verify", "--target", "embedded", "--scale", "0.002"])
    assert ei.value.code == 0


def _require_password_for(server: embedded.EmbeddedServer, role: str, password: str) -> None:
    hba = server.pgdata / "pg_hba.conf"
    text = hba.read_text()
    line = f"local all {role} scram-sha-256\n"
    if line not in text:
        hba.write_text(line + text)  # first match wins: this role must authenticate
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{password}'")


def test_wrong_and_missing_password(
    server: embedded.EmbeddedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _require_password_for(server, "fb_pw", "Right-Horse-42")
    socket_dir = server.uri.split("host=", 1)[1]
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    wrong = f"postgresql://fb_pw:Wr0ng-Guess@/postgres?host={socket_dir}"
    with pytest.raises(TargetError, match="wrong password for user fb_pw") as ei:
        PostgresBackend(parse_target(wrong))
    assert "Wr0ng-Guess" not in str(ei.value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as se:
        main(["verify", "--target", wrong])
    err = capsys.readouterr().err.strip()
    assert se.value.code == 2 and len(err.splitlines()) == 1 and "wrong password" in err
    assert "Wr0ng-Guess" not in err and "Traceback" not in err
    with pytest.raises(TargetError, match="asks for a password and none was given"):
        PostgresBackend(parse_target(f"postgresql://fb_pw@/postgres?host={socket_dir}"))
    # and the right one works, through the environment
    monkeypatch.setenv("PGPASSWORD", "Right-Horse-42")
    PostgresBackend(parse_target(f"postgresql://fb_pw@/postgres?host={socket_dir}")).close()


def test_unwritable_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FEATBENCH_HOME", str(blocker / "home"))
    with pytest.raises(FeatbenchError, match="not writable.*FEATBENCH_HOME"):
        embedded.start()
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(["load", "--target", "embedded", "--scale", "0.002"])
    err = capsys.readouterr().err.strip()
    assert ei.value.code == 2 and len(err.splitlines()) == 1 and "not writable" in err
    assert blocker.read_text() == "not a directory"
    if (
        os.geteuid() != 0
    ):  # root may write anywhere: the permission case only means something otherwise
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        monkeypatch.setenv("FEATBENCH_HOME", str(ro / "home"))
        with pytest.raises(FeatbenchError, match="not writable"):
            embedded.start()


def test_stop_then_start_keeps_data(server: embedded.EmbeddedServer) -> None:
    r = embedded.stop()
    assert r["was_running"] and r["stopped"] and not r["purged"]
    assert not embedded.status()["running"]
    again = embedded.start()
    assert again.pid != server.pid
    with psycopg.connect(again.uri, autocommit=True) as conn:
        # data loaded by the earlier test survived the restart
        n = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'featbench'"
        ).fetchone()[0]
    assert n >= 30
