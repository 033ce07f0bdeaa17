"""Health checks while slow clients hold connections open; print /healthz latency percentiles.

    python benchmarks/slow_clients.py [--slow 100] [--kind line] [--seconds 15] [--runs 3]

Starts `platbot serve http` (gunicorn, as in production) on a free 127.0.0.1 port, with a
stand-in for Slack's Web API on another. Then it keeps `--slow` connections open that each send
the start of a request and nothing more (a slowloris), opening a new one whenever the server
closes one, and meanwhile sends GET /healthz every 20 ms on a new connection, as a load
balancer's health check would, for `--seconds`. Kinds of slow client:

    line    part of a request line ("GET /heal")
    head    a request line and some headers, never the blank line that ends them
    body    a whole head declaring 1,000 bytes of body, then 10 of them
    silent  connects and sends nothing
    linger  a whole request asking the server to close; once the server has answered and
            closed its side, the client holds on to its own for HOLD seconds more

Target on a 2-core machine: p99 /healthz latency under 100 ms with 100 slow connections, and
no health check failed (10 s client timeout). Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from load_slash import Sink, percentile, start_server

SLOW_STARTS = {
    "line": b"GET /heal",
    "head": b"POST /slack/events HTTP/1.1\r\nHost: platbot\r\nContent-Type: application/json\r\n",
    "body": b'POST /slack/events HTTP/1.1\r\nHost: platbot\r\nContent-Length: 1000\r\n\r\n{"token": ',
    "silent": b"",
    "linger": b"GET /healthz HTTP/1.1\r\nHost: platbot\r\nConnection: close\r\n\r\n",
}
PROBE_INTERVAL = 0.02
PROBE_TIMEOUT = 10.0
HOLD = 3.0
MAX_SLOW = 500
MAX_SECONDS = 60


class SlowClients:
    """Holds `count` connections that each sent the start of a request, opening another for
    each that the server closes (and holding on to that one for `hold` seconds more)."""

    def __init__(self, port: int, count: int, start: bytes, hold: float = 0.0) -> None:
        self.port, self.start, self.hold = port, start, hold
        self.reopened = 0
        self._stop = threading.Event()
        self._held: list[tuple[float, socket.socket]] = []  # closed by the server, not yet by us
        self._sockets: list[socket.socket] = []
        for _ in range(count):  # one by one, so that every worker takes some
            self._sockets.append(self._open())
            time.sleep(0.005)
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.sendall(self.start)
        sock.setblocking(False)
        return sock

    def _keep(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for i, sock in enumerate(self._sockets):
                if _closed_by_server(sock):
                    self._held.append((now + self.hold, sock))
                    self._sockets[i] = self._open()
                    self.reopened += 1
            while self._held and self._held[0][0] <= now:
                self._held.pop(0)[1].close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self._sockets + [sock for _, sock in self._held]:
            sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""  # a close (after an answer, read on an earlier turn)
    except BlockingIOError:
        return False
    except OSError:
        return True


def health_check(port: int) -> float:
    """Milliseconds for one GET /healthz on a new connection; raises if it fails."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def run_once(slow: int, kind: str, seconds: float, workers: int, threads: int) -> bool:
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        process, listener, port = start_server(sink, workers, threads, Path(tmp) / "server.log")
        clients = None
        try:
            for _ in range(20):
                health_check(port)  # warm-up
            clients = SlowClients(port, slow, SLOW_STARTS[kind], HOLD if kind == "linger" else 0.0)
            time.sleep(1.0)  # let the server take them all
            latencies: list[float] = []
            failures: list[str] = []
            stop_at = time.monotonic() + seconds
            while time.monotonic() < stop_at:
                try:
                    latencies.append(health_check(port))
                except OSError as exc:
                    failures.append(type(exc).__name__)
                time.sleep(PROBE_INTERVAL)
        finally:
            if clients is not None:
                clients.close()
            process.terminate()
            process.wait(timeout=15)
            listener.close()
            sink.close()
    print(
        f"{slow} slow clients ({kind}), {workers} workers x {threads} threads: "
        f"{len(latencies)} health checks, {len(failures)} failed"
        + (f" ({', '.join(sorted(set(failures)))})" if failures else "")
        + f"; slow connections closed by the server and reopened: {clients.reopened if clients else 0}"
    )
    if not latencies:
        return False
    print(
        f"/healthz latency ms   p50 {percentile(latencies, 50):.1f}  p90 {percentile(latencies, 90):.1f}  "
        f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}"
    )
    return not failures and percentile(latencies, 99) < 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=100, help="slow connections held open")
    parser.add_argument("--kind", choices=sorted(SLOW_STARTS), default="line")
    parser.add_argument("--seconds", type=float, default=15, help="how long to send health checks")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or not 0 <= args.slow <= MAX_SLOW or not 0 < args.runs <= 10:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}], --slow in [0, {MAX_SLOW}], --runs in [1, 10]")
    met = all([run_once(args.slow, args.kind, args.seconds, args.workers, args.threads) for _ in range(args.runs)])
    print("target (p99 < 100 ms, no failed health check):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
