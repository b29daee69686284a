"""Running `chatservice serve` as a real process on free local ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from support.waiting import eventually

CHATSERVICE = str(Path(sys.executable).parent / "chatservice")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    process: subprocess.Popen[str]
    http_url: str
    grpc_port: int
    printed: list[str] = field(default_factory=list)

    def token(self) -> str | None:
        for line in self.printed:
            if "use this one:" in line:
                return line.rsplit(":", 1)[1].strip()
        return None

    def follow_output(self) -> None:
        """From now on, a thread reads the rest of the process's output into `printed` (a
        process whose output nobody reads stops once the pipe is full)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                self.printed.append(line.rstrip())

        threading.Thread(target=read, daemon=True).start()

    async def begin_shutdown(self) -> None:
        """SIGTERM the process and return once it says it is shutting down: it takes no more
        work and drains what is in flight (needs `follow_output`)."""
        self.process.send_signal(signal.SIGTERM)
        await eventually(
            lambda: any("shutting down" in line for line in self.printed),
            "the service began to shut down",
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_service(
    env: dict[str, str], cwd: Path, timeout: float = 120, args: Sequence[str] = ()
) -> ServiceProcess:
    """`chatservice serve [args]` on free ports, once it says it listens (`timeout`: generous,
    for a start-up on a busy machine)."""
    port, grpc_port = free_port(), free_port()
    while grpc_port == port:  # the kernel may hand the same free port out twice
        grpc_port = free_port()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "CHATSERVICE_HTTP_PORT": str(port),
        "CHATSERVICE_GRPC_PORT": str(grpc_port),
        **env,
    }
    process = subprocess.Popen(
        [CHATSERVICE, "serve", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", grpc_port)
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        service.printed.append(line.rstrip())
        if "HTTP on" in line and (env.get("CHATSERVICE_AUTH_TOKENS") or service.token()):
            return service
        if "use this one:" in line:
            return service
    service.stop(signal.SIGKILL)
    raise AssertionError("chatservice did not start:\n" + "\n".join(service.printed))
