"""A small witness (``c2sp.org/tlog-witness``) for optin's and other logs' checkpoints.

::

    w = Witness.open(key_file, state_file, log_keys)   # state survives restarts
    answer = w.add_checkpoint(body, now=now)            # 200 + cosignature line, or 4xx
    serve(w, host, port, clock)                          # POST /add-checkpoint

The witness keeps the latest cosigned checkpoint (size, root) per log origin in a JSON
state file, written atomically before it answers, under one lock, so a concurrent or
repeated request can never roll it back. It verifies the log's signature and the
consistency proof from its stored checkpoint, and refuses smaller trees (400/409),
forks (422) and unknown logs (404).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from optin.errors import ConfigError
from optin.files import atomic_write_json
from optin.services.tlog import read_signer
from optin.tlog.note import ALG_COSIGNATURE_V1, Verifier
from optin.tlog.witness import Answer, WitnessState, add_checkpoint

log = logging.getLogger(__name__)

__all__ = ["WitnessService", "make_server"]

MAX_BODY = 64 * 1024


class WitnessService:
    """The witness's key, trusted logs and persisted state."""

    def __init__(self, key_file: Path, state_file: Path, log_keys: list[Verifier]) -> None:
        self.signer = read_signer(key_file)
        if self.signer.alg != ALG_COSIGNATURE_V1:
            raise ConfigError(
                f"{key_file} is not a witness key (type 0x04); create one with "
                "`optin witness keygen NAME`"
            )
        self.state_file = state_file
        self.logs: dict[str, list[Verifier]] = {}
        for k in log_keys:
            self.logs.setdefault(k.name, []).append(k)
        self.lock = threading.Lock()
        self.states = self._load()

    def _load(self) -> dict[str, WitnessState]:
        try:
            raw = json.loads(self.state_file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the witness state {self.state_file}: {e}") from None
        return {
            origin: WitnessState(int(v["size"]), base64.b64decode(v["root"]))
            for origin, v in raw.items()
        }

    def _save(self, states: dict[str, WitnessState]) -> None:
        atomic_write_json(
            self.state_file,
            {
                o: {"size": s.size, "root": base64.b64encode(s.root).decode()}
                for o, s in states.items()
            },
            mode=0o600,
        )

    @property
    def vkey(self) -> str:
        return self.signer.verifier.vkey

    def add_checkpoint(self, body: str, *, now: datetime) -> Answer:
        with self.lock:
            answer = add_checkpoint(body, self.logs, self.states, self.signer, int(now.timestamp()))
            if answer.new_state is not None:
                origin = body.partition("\n\n")[2].split("\n", 1)[0]
                states = {**self.states, origin: answer.new_state}
                self._save(states)  # persist before answering
                self.states = states
        return answer


def make_server(
    service: WitnessService, host: str, port: int, clock: Callable[[], datetime]
) -> ThreadingHTTPServer:
    """An HTTP server for ``POST /add-checkpoint`` (call ``serve_forever``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            log.info("witness: " + format, *args)

        def _reply(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
                self._reply(404, "not found: POST /add-checkpoint\n")
                return
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self._reply(413, "request too large\n")
                return
            try:
                body = self.rfile.read(n).decode("utf-8")
            except UnicodeDecodeError:
                self._reply(400, "the request is not UTF-8\n")
                return
            a = service.add_checkpoint(body, now=clock())
            self._reply(a.status, a.body, a.content_type)

        def do_GET(self) -> None:
            self._reply(200, service.vkey + "\n")

    return ThreadingHTTPServer((host, port), Handler)
