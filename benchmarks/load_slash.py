"""Load the HTTP server with signed slash commands on loopback; print ack latency and throughput.

    python benchmarks/load_slash.py [--clients 20] [--seconds 10] [--workers 2] [--threads 8]

Starts `platbot serve http` (gunicorn, as in production) on a free 127.0.0.1 port, and
a sink on another loopback port that stands in for Slack's Web API and response URLs. Then
N client threads each send signed `/platform` requests back to back, one new connection per
request as a stand-in for Slack, for a fixed time. The ack latency is the time from sending
a request to reading Slack's 200; the answers themselves go to the sink afterwards and are
counted, so the figure is not bought by dropping work. Nothing leaves the loopback interface.

Target on a 2-core machine: p99 ack latency under 100 ms at 20 concurrent clients, no errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-0000-0000-benchmarkbenchmark"
SIGNING_SECRET = "benchmark-signing-secret-0123456789"
QUESTIONS = [
    "how do I schedule jobs on ECS?",
    "ECSでバッチを定期実行したい",
    "where should my ECS task keep its database password?",
    "EKS と ECS どちらを選ぶべき?",
    "what should we eat for lunch?",
    "help",
]
MAX_SECONDS = 60
MAX_CLIENTS = 200


class Sink:
    """Slack's side, minimal: answers every Web API call ok and counts response-URL posts."""

    def __init__(self) -> None:
        self.answers = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/respond/"):
                    with lock:
                        sink.answers += 1
                    body = b"ok"
                else:
                    answer = {"ok": True, "user_id": "UBENCH", "bot_id": "BBENCH", "team_id": "TBENCH"}
                    body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_server(
    sink: Sink, workers: int, threads: int, log_path: Path
) -> tuple[subprocess.Popen[bytes], socket.socket, int]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{sink.port}/api/",
        "PLATBOT_KNOWLEDGE": str(REPO / "knowledge"),
    }
    argv = [
        sys.executable,
        "-m",
        "bot.slack.serve",
        "http",
        f"--bind=fd://{listener.fileno()}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "WARNING",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),)
        )
    port = listener.getsockname()[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return process, listener, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not become healthy")


def signed_command(text: str, response_url: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode(
        {
            "command": "/platform",
            "text": text,
            "user_id": "UBENCH",
            "channel_id": "CBENCH",
            "team_id": "TBENCH",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
    ts = str(int(time.time()))
    return body.encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body),
    }


def client(port: int, sink_port: int, stop_at: float, ids: count, latencies: list[float], errors: list[str]) -> None:
    while time.monotonic() < stop_at:
        n = next(ids)
        body, headers = signed_command(QUESTIONS[n % len(QUESTIONS)], f"http://127.0.0.1:{sink_port}/respond/{n}")
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/slack/events", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
                continue
        except OSError as exc:
            errors.append(type(exc).__name__)
            continue
        latencies.append((time.perf_counter() - start) * 1000)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(clients: int, seconds: float, workers: int, threads: int) -> int:
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        process, listener, port = start_server(sink, workers, threads, Path(tmp) / "server.log")
        try:
            ids = count()
            # Warm-up: first requests pay for imports and thread start-up.
            warm: list[float] = []
            client(port, sink.port, time.monotonic() + 1.0, ids, warm, [])
            settle = time.monotonic() + 10
            while sink.answers < len(warm) and time.monotonic() < settle:
                time.sleep(0.05)  # the warm-up's answers must not count in the run
            sink.answers = 0
            latencies: list[float] = []
            errors: list[str] = []
            stop_at = time.monotonic() + seconds
            senders = [
                threading.Thread(target=client, args=(port, sink.port, stop_at, ids, latencies, errors))
                for _ in range(clients)
            ]
            started = time.monotonic()
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            elapsed = time.monotonic() - started
            acked = len(latencies)
            deadline = time.monotonic() + 10
            while sink.answers < acked and time.monotonic() < deadline:
                time.sleep(0.05)  # let the answers after the last acks arrive
        finally:
            process.terminate()
            process.wait(timeout=15)
            listener.close()
            sink.close()
    print(f"{clients} clients for {seconds:.0f} s; gunicorn: {workers} workers x {threads} threads")
    print(f"requests acked   {acked}  ({acked / elapsed:.0f}/s)")
    if latencies:
        print(
            f"ack latency ms   median {statistics.median(latencies):.1f}  p95 {percentile(latencies, 95):.1f}  "
            f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}"
        )
    print(f"answers posted   {sink.answers} of {acked}")
    print(f"errors           {len(errors)}" + (f"  ({', '.join(sorted(set(errors)))})" if errors else ""))
    ok = bool(latencies) and not errors and percentile(latencies, 99) < 100 and sink.answers >= acked
    print("target (p99 < 100 ms, no errors, every answer posted):", "met" if ok else "NOT met")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or not 0 < args.clients <= MAX_CLIENTS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}] and --clients in (0, {MAX_CLIENTS}]")
    return run(args.clients, args.seconds, args.workers, args.threads)


if __name__ == "__main__":
    sys.exit(main())
