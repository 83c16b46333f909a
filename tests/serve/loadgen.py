"""A real `samdata serve` process and clients that post captures to it (tests and bench/capture.py).

Every request carries a unique Idempotency-Key and a body naming it; a client retries a request
(same key, same body) until it is acknowledged, so a server killed mid-load loses nothing that
was acknowledged and duplicates nothing that is retried."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`samdata serve --config CONFIG --port PORT` in its own process."""

    def __init__(self, config: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.config, self.port, self.host = config, port or free_port(), host
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "samdata", "serve", "--config", str(self.config), "--port", str(self.port),
             "--host", self.host],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Load:
    acked: dict[str, str] = field(default_factory=dict)  # key → example id
    latencies: list[float] = field(default_factory=list)  # seconds, acknowledged requests
    retries: int = 0
    errors: list[str] = field(default_factory=list)  # answers that were neither 201 nor a lost connection
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def body(key: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": f"capture {key}: what did I say?"},
                         {"role": "assistant", "content": f"You said {key}."}], "meta": {"client": key[:3]}}  # fmt: skip


def run_load(
    url: str, clients: int, seconds: float, token: str | None = None, give_up_s: float = 60.0
) -> Load:
    """`clients` threads posting captures for `seconds`; each retries an unanswered request (a lost
    connection, a 5xx) with the same key until it is acknowledged or `give_up_s` passes."""
    load = Load()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def client(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10.0) as http:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                key = f"c{n:02d}-{i:07d}"
                payload = body(key)
                first = time.monotonic()
                while True:
                    t = time.perf_counter()
                    try:
                        r = http.post(
                            "/api/capture/conversation", json=payload, headers={"Idempotency-Key": key}
                        )
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code == 201:
                        with lock:
                            load.acked[key] = r.json()["id"]
                            load.latencies.append(time.perf_counter() - t)
                        break
                    if r is not None and r.status_code < 500:
                        with lock:
                            load.errors.append(f"{r.status_code} {r.text[:200]}")
                        break
                    with lock:
                        load.retries += 1
                    if time.monotonic() - first > give_up_s:
                        with lock:
                            load.errors.append(f"gave up on {key}")
                        break
                    time.sleep(0.05)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.seconds = time.monotonic() - t0
    return load
