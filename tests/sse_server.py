"""A real local HTTP server for the bench tests: OpenAI chat completions streamed as server-sent
events at a set time to first token and time per token, `concurrency` requests at a time (the
rest wait for a slot, as an engine's queue does), answering `max_tokens` tokens.

Service time of a request of n tokens: ttft + (n - 1) × tpot, so the most it completes per
second is concurrency / service time.

It runs in a process of its own (`python -m tests.sse_server BEHAVIOUR_JSON`): in the test's
process its threads would wait for the client's event loop to hand over the GIL (up to
sys.getswitchinterval(), 5 ms, at every token), which showed as 20-30 ms of extra TTFT when the
machine was busy. GET /stats says how many requests came and what they asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


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

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a timeout test) is not the server's error: no traceback."""
        del request, client_address


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_GET(self) -> None:
        with self.server.lock:
            stats = {"count": self.server.counter, "bodies": list(self.server.bodies)}
        self._json(200, stats)

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

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/stats", timeout=10).json()

    @property
    def count(self) -> int:
        """Requests received so far (numbered from 1 in arrival order)."""
        return self.stats()["count"]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return self.stats()["bodies"]


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[Running]:
    """The server in its own process on a free loopback port, for the duration of the block."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sse_server", json.dumps(asdict(behaviour))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield Running(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    server = _Server(Behaviour(**json.loads(sys.argv[1])))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
