"""A local HTTP server answering the Databricks REST calls featbench's Lakebase support
makes through the real databricks-sdk (instance lookup, credential generation, the
current user), recording every call. Point the SDK at it with
DATABRICKS_HOST=http://127.0.0.1:PORT and DATABRICKS_TOKEN=…

Tokens are real PostgreSQL passwords: `on_token(token)` (e.g. ALTER ROLE … PASSWORD) runs
before a generated token is returned, so the test PostgreSQL accepts exactly the tokens
this server hands out.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INSTANCES = "/api/2.0/database/instances/"
CREDENTIALS = "/api/2.0/database/credentials"
ME = "/api/2.0/preview/scim/v2/Me"


@dataclass
class FakeWorkspace:
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_name: str = "someone@example.com"
    token_lifetime_s: float = 3600.0
    on_token: Callable[[str], None] | None = None
    refuse_credentials: str | None = None  # an error_code to answer credential calls with
    url: str = ""  # DATABRICKS_HOST, once served
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # handed out since the last clear
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self) -> tuple[str, str]:
        with self.lock:
            self.issued += 1
            tok = f"tok-{self.issued}-{uuid.uuid4().hex[:8]}"
            if self.on_token is not None:
                self.on_token(tok)
            self.tokens.append(tok)
        exp = datetime.now(timezone.utc) + timedelta(seconds=self.token_lifetime_s)
        return tok, exp.isoformat().replace("+00:00", "Z")

    def paths(self, method: str) -> list[str]:
        return [p for m, p, _ in self.calls if m == method]


_STATUS = {"NOT_FOUND": 404, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401}


def _handler(ws: FakeWorkspace) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:  # quiet
            pass

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: str, message: str) -> None:
            self._send(_STATUS[code], {"error_code": code, "message": message})

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            ws.calls.append(("GET", path, None))
            if path.startswith(INSTANCES):
                name = path[len(INSTANCES) :]
                inst = ws.instances.get(name)
                if inst is None:
                    return self._error("NOT_FOUND", f"Database instance '{name}' does not exist.")
                if inst.get("_forbidden"):
                    return self._error("PERMISSION_DENIED", "User does not have permission.")
                return self._send(200, {k: v for k, v in inst.items() if not k.startswith("_")})
            if path == "/.well-known/databricks-config":  # the SDK's host-metadata probe
                return self._send(200, {"workspace_id": "1234567890"})
            if path == ME:
                return self._send(200, {"id": "123", "userName": ws.user_name})
            return self._error("NOT_FOUND", f"no such endpoint {path}")

        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            path = self.path.split("?", 1)[0]
            ws.calls.append(("POST", path, body))
            if path == CREDENTIALS:
                if ws.refuse_credentials:
                    return self._error(ws.refuse_credentials, "credential generation refused")
                tok, exp = ws.token()
                return self._send(200, {"token": tok, "expiration_time": exp})
            return self._error("NOT_FOUND", f"no such endpoint {path}")

    return H


class FakeDatabricks:
    """The server in a thread of the test process; `url` is its DATABRICKS_HOST."""

    def __init__(self, ws: FakeWorkspace) -> None:
        self.ws = ws
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ws))
        self.url = ws.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
