"""A real local HTTP server for the bench tests: OpenAI chat completions streamed as server-sent
events at a set time to first token and time per token, `concurrency` requests at a time (the
rest wait for a slot, as an engine's queue does), answering `max_tokens` tokens.

Service time of a request of n tokens: ttft + (n - 1) × tpot, so the most it completes per
second is concurrency / service time.

It runs in a process of its own (`python -m tests.sse_server BEHAVIOUR_JSON`): in the test's
process its threads would wait for the client's event loop to hand over the GIL (up to
sys.getswitchinterval(), 5 ms, at every token), which showed as 20-30 ms of extra TTFT when the
machine was busy. GET /stats says how many requests came and what they asked for.

It also speaks as the managed endpoints' invoke APIs do (`protocol`): completions (`prompt` in,
`text` out, as a container's predict route behind Vertex AI's streamRawPredict or Azure ML's
scoring URI), and SageMaker's InvokeEndpointWithResponseStream, the same events wrapped in AWS
event stream frames, each event cut into two PayloadParts. `authorization` is the prefix the
Authorization header must have (403 otherwise); the header itself is never recorded.
"""

from __future__ import annotations

import binascii
import json
import struct
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
    """Every n-th request's stream is cut after its first token (0: none); in event stream
    frames, a ModelStreamError event follows its first token instead."""
    protocol: str = "chat"
    """`chat`, `completions` or `eventstream` (chat events in AWS event stream frames)."""
    path: str = "/v1/chat/completions"
    authorization: str = ""
    """The prefix the Authorization header must start with ("" for none)."""
    signed_headers: tuple[str, ...] = ()
    """Headers that must be present too (SigV4's X-Amz-Date)."""


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
        if self.path != behaviour.path:
            self.send_error(404)
            return
        authorization = self.headers.get("Authorization") or ""
        if not authorization.startswith(behaviour.authorization) or any(
            name not in self.headers for name in behaviour.signed_headers
        ):
            self._json(403, {"message": "bad credentials"})
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
        data = f"data: {text}\n\n".encode()
        if self.server.behaviour.protocol == "eventstream":
            half = len(data) // 2
            data = _frame(_PAYLOAD_PART, data[:half]) + _frame(_PAYLOAD_PART, data[half:])
        self.wfile.write(data)
        self.wfile.flush()

    def _token(self, index: int) -> dict[str, object]:
        if self.server.behaviour.protocol == "completions":
            return {"choices": [{"index": 0, "text": f" w{index}"}]}
        return {"choices": [{"index": 0, "delta": {"content": f" w{index}"}}]}

    def _stream(self, tokens: int, number: int) -> None:
        behaviour = self.server.behaviour
        started = time.perf_counter()
        framed = behaviour.protocol == "eventstream"
        self.send_response(200)
        self.send_header("Content-Type", _EVENT_STREAM if framed else "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        for index in range(tokens):
            due = started + behaviour.ttft_s + index * behaviour.tpot_s
            time.sleep(max(0.0, due - time.perf_counter()))
            self._event(self._token(index))
            if behaviour.drop_every and number % behaviour.drop_every == 0:
                if framed:
                    self.wfile.write(_frame(_MODEL_STREAM_ERROR, b'{"Message": "injected"}'))
                return
        self._event({"choices": [], "usage": {"completion_tokens": tokens}})
        self._event("[DONE]")


_EVENT_STREAM = "application/vnd.amazon.eventstream"
_PAYLOAD_PART = {":message-type": "event", ":event-type": "PayloadPart"}
_MODEL_STREAM_ERROR = {":message-type": "exception", ":exception-type": "ModelStreamError"}


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event stream message: total and headers length, prelude CRC, headers (string
    values, type 7), payload, message CRC (CRC-32 of everything before it)."""
    encoded = b"".join(
        struct.pack("B", len(name))
        + name.encode()
        + struct.pack(">BH", 7, len(value))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    head = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", binascii.crc32(head))


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
