"""A PostgreSQL of the tests' own, started from pgserver's binaries, that checks passwords
(scram-sha-256 in pg_hba.conf).

The administrator (`postgres`) logs in over the unix socket without a password; every
other role logs in over TCP on 127.0.0.1 with its password. pgserver's build has no TLS:
`tls=True` starts the system's PostgreSQL binaries instead (`system_bindir()`), with a
certificate for localhost/127.0.0.1 from a CA of the tests' (`ca`); TLS is offered, not
required, so a test can compare a plain login with a verified one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_ca_and_cert(d: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key): the server's names are localhost
    and 127.0.0.1, signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "featbench test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = d / "ca.pem", d / "server.crt", d / "server.key"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


def system_bindir() -> Path | None:
    """The newest system PostgreSQL's bin directory (Debian's layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: p.parts)
    return found[-1].parent if found else None


class AuthServer:
    """initdb + pg_ctl start in a directory of its own; `stop()` ends it and removes it."""

    def __init__(self, *, tls: bool = False, listen: str = "127.0.0.1") -> None:
        from pgserver import _commands as pgc
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        bindir = system_bindir() if tls else pgc.POSTGRES_BIN_PATH
        assert bindir is not None
        self.bindir = bindir
        # Not under pytest's tmp_path: another pytest session as root makes
        # /tmp/pytest-of-root private again (0700), and the server's user could no longer
        # reach its own directory.
        self.root = root = Path(tempfile.mkdtemp(prefix="featbench-pgauth-"))
        self.pgdata = root / "data"
        self.sock = root / "sock"
        self.port = _free_port()
        # PostgreSQL refuses to run as root: as root, run it as pgserver's own system user
        self.system_user: str | None = None
        self.pgdata.mkdir()
        self.sock.mkdir()
        if os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            self.system_user = "pgserver"
            ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.pgdata)
            if not tls:
                ensure_prefix_permissions(pgc.POSTGRES_BIN_PATH)
                ensure_folder_permissions(pgc.POSTGRES_BIN_PATH, 0o055)
                ensure_folder_permissions(pgc.POSTGRES_BIN_PATH.parent / "lib", 0o044)
        self.ca, cert, key = make_ca_and_cert(root)
        self._own(self.pgdata, self.sock, cert, key)
        key.chmod(0o600)
        self._run(
            "initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"
        )
        (self.pgdata / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
            + ("host all all 0.0.0.0/0 scram-sha-256\n" if listen != "127.0.0.1" else "")
        )
        with (self.pgdata / "postgresql.conf").open("a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '{listen}'\n"
                f"unix_socket_directories = '{self.sock}'\n"
                "password_encryption = 'scram-sha-256'\nmax_connections = 60\n"
                "fsync = off\nlog_connections = on\n"
            )
            if tls:
                f.write(f"ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n")
        self._own(self.pgdata / "pg_hba.conf", self.pgdata / "postgresql.conf")
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-l", str(self.pgdata / "log"), "start")
        self.admin_dsn = f"postgresql://postgres@/postgres?host={self.sock}&port={self.port}"

    def _run(self, exe: str, *args: str) -> None:
        # as pgserver does: files for stdout/stderr (pg_ctl keeps pipes open and hangs)
        with open(os.devnull, "w") as out:
            done = subprocess.run(
                [str(self.bindir / exe), *args], stdout=out, stderr=subprocess.PIPE,
                user=self.system_user, timeout=120, text=True,
            )  # fmt: skip
        if done.returncode:
            log = self.pgdata / "log"
            raise RuntimeError(
                f"{exe} failed: {done.stderr}\n{log.read_text() if log.exists() else ''}"
            )

    def _own(self, *paths: Path) -> None:
        if self.system_user is None:
            return
        pw = pwd.getpwnam(self.system_user)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def dsn(self, user: str, host: str = "127.0.0.1", **params: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{user}@{host}:{self.port}/postgres" + (f"?{q}" if q else "")

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_dsn, autocommit=True)

    def role(self, name: str, password: str, *, superuser: bool = False) -> None:
        with self.admin() as c:
            c.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                    sql.Identifier(name),
                    sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
                    sql.Literal(password),
                )
            )
            c.execute(
                sql.SQL("GRANT CREATE ON DATABASE postgres TO {}").format(sql.Identifier(name))
            )

    def set_password(self, name: str, password: str) -> None:
        with self.admin() as c:
            c.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
