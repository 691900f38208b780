"""A real local HTTP server for the bench tests: OpenAI chat completions streamed as server-sent
events at a set time to first token and time per token, `concurrency` requests at a time (the
rest wait for a slot, as an engine's queue does), answering `max_tokens` tokens.

Service time of a request of n tokens: ttft + (n - 1) × tpot, so the most it completes per
second is concurrency / service time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Behaviour:
    ttft_s: float = 0.05
    tpot_s: float = 0.01
    concurrency: int = 4
    fail_every: int = 0
    """Every n-th request is answered 500 (0: none)."""
    drop_every: int = 0
    """Every n-th request's stream is cut after its first token (0: none)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.slots = threading.Semaphore(behaviour.concurrency)
        self.counter = 0
        self.lock = threading.Lock()
        self.bodies: list[dict[str, object]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        behaviour = self.server.behaviour
        with self.server.lock:
            self.server.counter += 1
            number = self.server.counter
            self.server.bodies.append(body)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        if behaviour.fail_every and number % behaviour.fail_every == 0:
            self._json(500, {"error": {"message": "injected failure"}})
            return
        with self.server.slots:
            self._stream(int(body["max_tokens"]), number)

    def _json(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, payload: object) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.wfile.write(f"data: {text}\n\n".encode())
        self.wfile.flush()

    def _stream(self, tokens: int, number: int) -> None:
        behaviour = self.server.behaviour
        started = time.perf_counter()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        for index in range(tokens):
            due = started + behaviour.ttft_s + index * behaviour.tpot_s
            time.sleep(max(0.0, due - time.perf_counter()))
            self._event({"choices": [{"index": 0, "delta": {"content": f" w{index}"}}]})
            if behaviour.drop_every and number % behaviour.drop_every == 0:
                return
        self._event({"choices": [], "usage": {"completion_tokens": tokens}})
        self._event("[DONE]")


@dataclass(frozen=True)
class Running:
    url: str
    server: _Server

    @property
    def bodies(self) -> list[dict[str, object]]:
        return self.server.bodies


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[Running]:
    """The server on a free loopback port, for the duration of the block."""
    server = _Server(behaviour)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
