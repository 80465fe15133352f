"""A provider's webhook for tests and the notice bench: a real HTTP server on 127.0.0.1.

It verifies each notice's Ed25519 signature (``X-Optin-Signature``, base64 over the exact
body) with the platform's published public key and stores notices keyed by their
``Idempotency-Key`` header, so a notice posted twice is stored once. Faults on demand:

* ``down()`` / ``up()``: stop listening (connections are refused) and listen again on
  the same port;
* ``fail_next(n, status=500)``: answer the next ``n`` posts with ``status`` (not stored);
* ``slow_next(n, seconds)``: sleep before answering the next ``n`` posts (the notice is
  still stored, as a provider that processed it but answered late would);
* ``delay``: sleep this long on every post (for kill tests).

``ack(base_url, token)`` acknowledges every stored notice not yet acknowledged, as a
provider does once it purged the records: ``POST {base_url}/api/v1/provider/acks`` with
its provider-bound API key; it answers the platform's replies.

``GET /stats`` answers the counts and ``GET /dump`` every stored notice's receipt time and
record ids, for a stub run in another process (``bench/notices.py``).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class ProviderStub:
    def __init__(self, public_key_b64: str, *, port: int | None = None) -> None:
        self.public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        self.port = port or _free_port()
        self.notices: dict[str, dict[str, Any]] = {}
        self.received_at: dict[str, float] = {}  # time.time() of first receipt
        self.acked: dict[str, dict[str, Any]] = {}  # notice id -> the platform's answer
        self.posts = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.delay = 0.0
        self._fail: list[int] = []
        self._slow: list[float] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/optin/notices"

    # -- faults --

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    def slow_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._slow.extend([seconds] * n)

    def _fault(self) -> tuple[int | None, float]:
        with self._lock:
            self.posts += 1
            status = self._fail.pop(0) if self._fail else None
            slow = self._slow.pop(0) if self._slow else 0.0
        return status, slow + self.delay

    # -- the handler --

    def _handle(self, body: bytes, headers: Any) -> tuple[int, dict[str, Any]]:
        status, sleep = self._fault()
        if sleep:
            time.sleep(sleep)
        if status is not None:
            return status, {"error": "injected failure"}
        try:
            self.public_key.verify(base64.b64decode(headers.get("X-Optin-Signature", "")), body)
        except (InvalidSignature, ValueError):
            with self._lock:
                self.bad_signatures += 1
            return 401, {"error": "bad signature"}
        key = headers.get("Idempotency-Key", "")
        notice = json.loads(body)
        with self._lock:
            if key in self.notices:
                self.duplicates += 1
            else:
                self.notices[key] = notice
                self.received_at[key] = time.time()
        return 200, {"stored": key}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, answer = stub._handle(body, self.headers)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    self.close_connection = True

            def do_GET(self) -> None:  # /stats: counts; /dump: every stored notice's receipt
                with stub._lock:
                    if self.path == "/dump":
                        answer: Any = {
                            k: [stub.received_at[k], n["record_ids"]]
                            for k, n in stub.notices.items()
                        }
                    else:
                        answer = {
                            "notices": len(stub.notices),
                            "posts": stub.posts,
                            "duplicates": stub.duplicates,
                            "bad_signatures": stub.bad_signatures,
                        }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    # -- up and down --

    def up(self) -> ProviderStub:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self._handler())
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join(5)

    def ack(self, base_url: str, token: str) -> list[dict[str, Any]]:
        """POST an acknowledgement for each stored notice not acknowledged yet."""
        with self._lock:
            todo = [k for k in self.notices if k not in self.acked]
        out = []
        for key in todo:
            req = urllib.request.Request(
                f"{base_url}/api/v1/provider/acks",
                data=json.dumps({"notice_id": key}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = json.loads(r.read())
            with self._lock:
                self.acked[key] = answer
            out.append(answer)
        return out

    def record_ids(self) -> list[str]:
        """Every record id named by a stored notice (sorted)."""
        with self._lock:
            return sorted(r for n in self.notices.values() for r in n["record_ids"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
