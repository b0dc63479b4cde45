"""Large files under gunicorn: many clients downloading /archive.ics at
once do not grow the worker by the file's size each (the body is read and
sent a block at a time)."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, gunicorn

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

CLIENTS = 32


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def worker_of(master: int) -> int:
    (worker,) = map(int, Path(f"/proc/{master}/task/{master}/children").read_text().split())
    return worker


@pytest.mark.slow
def test_slow_downloads_of_a_large_file_do_not_grow_the_worker(tmp_path):
    data = synthetic.write(tmp_path / "talks.yaml", 1000)
    with gunicorn(data, tmp_path / "gunicorn.log", "--workers", "1", timeout=300,
                  env={"FEEDS_BUILD_TIMEOUT": "300"}) as (base, proc):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as probe:
            probe.sendall(b"HEAD /archive.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = probe.recv(65536).decode("latin-1")
        size = int(next(line.split(":")[1] for line in head.splitlines()
                        if line.lower().startswith("content-length:")))
        assert size > 1_500_000  # large enough that 32 copies would show
        worker = worker_of(proc.pid)
        with socket.create_connection((host, int(port))) as warm:  # the route looked up once
            warm.sendall(b"GET /archive.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while warm.recv(1 << 20):
                pass
        idle = rss_mb(worker)
        with contextlib.ExitStack() as stack:
            clients = []
            for _ in range(CLIENTS):
                client = stack.enter_context(socket.create_connection((host, int(port))))
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                client.sendall(b"GET /archive.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                clients.append(client)
            for client in clients:  # every download has started, none is done
                assert client.recv(1024).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)  # the worker has filled every socket it can
            busy = rss_mb(worker)
            # Whoever reads on gets the whole file.
            received = len(b"".join(iter(lambda: clients[0].recv(1 << 20), b"")))
    # Holding the file per download would take CLIENTS × size (here > 48 MB).
    assert busy - idle < CLIENTS * size / 1e6 / 4, (idle, busy, size)
    assert received > size - 1024
