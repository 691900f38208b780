"""Start, stop and find the local emulated AWS (moto's server) that outlives one command.

Files under `infra_home() / "local"`:

- `emulator.json`: pid, port, endpoint, started_at and moto version of the running server,
  written atomically once the server answers, removed when it stops or is found dead;
- `moto.log`: the server's output (which instance types were patched in, one line per request),
  truncated at each start;
- `emulator.lock`: serialises start, stop and status between concurrent commands.

The server is its own session (process group), so it survives the command that started it and
`stop()` ends it with everything it spawned. It binds 127.0.0.1 only. The emulator keeps every
resource in memory: stopping it forgets them all. POSIX only (process groups, flock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from core.errors import InfraError
from providers.local.paths import infra_home, writing_under_home

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
REGION = "us-east-1"
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0
PROBE_TIMEOUT_S = 3.0
SERVER_MODULE = "providers.local.server"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding `providers/`, put on the server's PYTHONPATH so `-m` finds it anywhere."""
_STATE_KEYS = frozenset({"pid", "port", "endpoint", "started_at", "moto_version"})


class EmulatorError(InfraError):
    """The local emulated AWS could not be started or stopped."""


@dataclass(frozen=True)
class EmulatorStatus:
    running: bool
    pid: int | None = None
    port: int | None = None
    endpoint: str | None = None
    started_at: str | None = None
    moto_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_dir() -> Path:
    return infra_home() / "local"


def state_file() -> Path:
    return state_dir() / "emulator.json"


def log_file() -> Path:
    return state_dir() / "moto.log"


def start(port: int | None = None) -> EmulatorStatus:
    """Start the emulator, or return the one already running (asking for another port is an error).

    Without `port`: 4566 (the usual emulator port) if free, else any free loopback port.
    """
    with _lock():
        current = _status_locked()
        if current.running:
            if port is not None and port != current.port:
                raise EmulatorError(
                    f"the local AWS emulator already runs on port {current.port}; "
                    f"stop it with `infra local down` before starting it on port {port}."
                )
            return current
        return _launch(_choose_port(port))


def stop() -> bool:
    """Stop the emulator: SIGTERM its process group, SIGKILL after a grace period.

    Returns False when nothing was running (a stale state file is removed all the same).
    """
    with _lock():
        state = _read_state()
        if state is None:
            return False
        stopped = False
        if _pid_alive(state["pid"]) and _is_our_server(state["pid"], state["port"]):
            _terminate_group(state["pid"])
            stopped = True
        _forget_state()
        return stopped


def status() -> EmulatorStatus:
    """Whether the emulator runs and answers; a stale state file is cleaned up on the way.

    Stale means the recorded process is gone, or it no longer answers; a hung server that is
    recognisably ours is stopped so it does not hold the port for ever.
    """
    with _lock():
        return _status_locked()


def ensure_running() -> str:
    """The emulator's endpoint URL, starting the emulator if it is not running."""
    endpoint = start().endpoint
    assert endpoint is not None
    return endpoint


def aws_environment(endpoint: str) -> dict[str, str]:
    """Environment variables that point Terraform's AWS provider (5.x+) and boto3 at the emulator.

    Both honour AWS_ENDPOINT_URL. The Terraform provider block also needs
    `skip_credentials_validation`, `skip_requesting_account_id`, `skip_metadata_api_check` and
    `s3_use_path_style`; the stack code sets those, this only provides the environment.
    NO_PROXY gains the loopback names so a corporate HTTP(S)_PROXY does not swallow the requests.
    """
    existing = os.environ.get("NO_PROXY") or os.environ.get("no_proxy")
    no_proxy = ",".join(filter(None, (existing, "127.0.0.1", "localhost")))
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def _server_command(port: int) -> list[str]:
    return [sys.executable, "-m", SERVER_MODULE, "--host", HOST, "--port", str(port)]


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    folder = state_dir()
    with writing_under_home(folder):
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / "emulator.lock").open("a")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _status_locked() -> EmulatorStatus:
    state = _read_state()
    if state is None:
        return EmulatorStatus(running=False)
    pid, port = state["pid"], state["port"]
    alive = _pid_alive(pid)
    if alive and _answers(port):
        return EmulatorStatus(
            running=True,
            pid=pid,
            port=port,
            endpoint=state["endpoint"],
            started_at=state["started_at"],
            moto_version=state["moto_version"],
        )
    if alive and _is_our_server(pid, port):
        _terminate_group(pid)
    _forget_state()
    return EmulatorStatus(running=False)


def _read_state() -> dict[str, Any] | None:
    """The recorded state, or None; an unreadable file (edited by hand) is removed."""
    path = state_file()
    try:
        state = json.loads(path.read_text())
        if _STATE_KEYS - state.keys():
            raise ValueError(f"missing {sorted(_STATE_KEYS - state.keys())}")
        if not (isinstance(state["pid"], int) and isinstance(state["port"], int)):
            raise ValueError("pid and port must be integers")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        _forget_state()
        return None
    return state


def _forget_state() -> None:
    with writing_under_home(state_dir()):
        state_file().unlink(missing_ok=True)


def _write_state(state: dict[str, Any]) -> None:
    path = state_file()
    with writing_under_home(path.parent):
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump(state, stream, indent=2)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _choose_port(port: int | None) -> int:
    if port is not None:
        if not _port_free(port):
            raise EmulatorError(
                f"port {port} on {HOST} is in use; choose another with --port, "
                "or leave it out to pick a free one."
            )
        return port
    if _port_free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # The server sets SO_REUSEADDR too, so a port held only by TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _launch(port: int) -> EmulatorStatus:
    log = log_file()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")))
        ),
        "MOTO_PORT": str(port),  # moto builds some URLs (e.g. SQS queues) from it
        # The instance role attaches AWS managed policies (SSM, CloudWatch agent, ECR read);
        # moto knows them but loads them only when asked.
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    with writing_under_home(log.parent):
        output = log.open("wb")
    with output:
        process = subprocess.Popen(
            _server_command(port),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=state_dir(),
            env=environment,
            start_new_session=True,
        )
    endpoint = f"http://{HOST}:{port}"
    try:
        _wait_until_answering(process, port, log)
        state = {
            "pid": process.pid,
            "port": port,
            "endpoint": endpoint,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "moto_version": version("moto"),
        }
        _write_state(state)  # a server nobody can find again is stopped, not left behind
    except BaseException:
        _terminate_group(process.pid)
        process.wait()
        with contextlib.suppress(OSError):
            state_file().unlink(missing_ok=True)
        raise
    # The server outlives this process by design; mark the handle done so Python does not warn
    # that it is "still running" when the handle is collected.
    process.returncode = 0
    return EmulatorStatus(running=True, **state)


def _wait_until_answering(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(port):
        code = process.poll()
        if code is not None:
            raise EmulatorError(
                f"the local AWS emulator exited during start-up (exit code {code}); see {log}."
            )
        if time.monotonic() > deadline:
            raise EmulatorError(
                f"the local AWS emulator did not answer on {HOST}:{port} within "
                f"{START_TIMEOUT_S:g} s and was stopped; see {log}."
            )
        time.sleep(0.1)


def _answers(port: int) -> bool:
    """Whether moto's own API answers on the port (no proxy: it is a loopback address)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{HOST}:{port}/moto-api/", timeout=PROBE_TIMEOUT_S) as response:
            return response.status == 200
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # A server this process started and that has exited is a zombie until reaped.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_server(pid: int, port: int) -> bool:
    """Whether `pid` is the emulator, not an unrelated process that reused the pid.

    Where /proc exists the command line decides; elsewhere, whether the port still answers.
    """
    if not Path("/proc/self").exists():
        return _answers(port)
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return SERVER_MODULE.encode() in command_line


def _terminate_group(pid: int) -> None:
    """SIGTERM the process group led by `pid`, SIGKILL it if it outlives STOP_GRACE_S."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if _exited_within(pid, STOP_GRACE_S):
            return
    raise EmulatorError(f"could not stop the local AWS emulator (pid {pid}); stop it by hand.")


def _exited_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
