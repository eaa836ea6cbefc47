"""Benchmark the Brevo path's cost per recipient: the client's CPU and the bytes on the wire.

    .venv/bin/python bench/bench_brevo.py [--sizes 100000 1000000] [--batch-size 1000]
    .venv/bin/python bench/bench_brevo.py --profile 100000      # cProfile, top functions

The Brevo provider sends batches of generated recipients (first name, name, one extra column,
as the sample audience) to a loopback fake Brevo running in its own process, one request at a
time; each size runs in its own subprocess, so its peak RSS is its own. Reported: the client's
CPU time per recipient (``time.process_time``: building the payload, the unsubscribe tokens,
JSON, httpx), the request bytes per recipient as the server counted them, and the peak RSS.
The engine and the ledger are measured by ``bench_send.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from newsletter.config import load_config
from newsletter.deliver.providers import Batch, BatchItem, Status, create_provider
from newsletter.deliver.providers.brevo import BrevoProvider
from newsletter.model import Recipient, RenderedEmail

ISSUE = date(2026, 12, 3)


class _Counting(BaseHTTPRequestHandler):
    """Answers every send as Brevo does (201, one id) and counts the request bytes."""

    protocol_version = "HTTP/1.1"
    #: The answer's head and body go out at once (else the client waits out a delayed ACK).
    disable_nagle_algorithm = True
    received = 0
    requests = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        type(self).received += len(body) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        type(self).requests += 1
        answer = b'{"messageId":"<bench@smtp-relay.mailin.fr>"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        answer = json.dumps({"bytes": self.received, "requests": self.requests}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(port_file: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    port_file.write_text(str(server.server_address[1]), encoding="ascii")
    server.serve_forever()


def write_project(root: Path, url: str, batch_size: int) -> Path:
    config = root / "schedule.yaml"
    config.write_text(
        "newsletter:\n"
        '  title: "Le Jeudi de l\'ODD 17"\n'
        '  sender: {name: "Le RAMEAU", email: "jeudi@example.org"}\n'
        '  reply_to: "contact@example.org"\n'
        '  web_url: "https://example.org/jeudi"\n'
        '  unsubscribe_mailto: "desinscription@example.org"\n'
        "delivery:\n"
        "  provider: brevo\n"
        "  audience: {csv: subscribers.csv}\n"
        f"  options: {{base_url: '{url}', batch_size: {batch_size}}}\n",
        encoding="utf-8",
    )
    return config


def rendered_email() -> RenderedEmail:
    """An email the size of a real issue (about 58 KB of HTML), with the usual placeholders."""
    card = (
        '<tr><td style="padding:12px"><h2>Un titre d\'article assez long pour une carte</h2>'
        "<p>Un résumé de deux ou trois phrases, comme ceux que la rédaction écrit chaque semaine "
        'pour présenter une initiative locale.</p><a href="https://example.org/a">Lire</a></td></tr>'
    )
    html = (
        "<html><body><p>Bonjour [[first_name]],</p><table>"
        + card * 200
        + '</table><p><a href="[[unsubscribe_url]]">Se désinscrire</a></p></body></html>'
    )
    text = "Bonjour [[first_name]],\n\n" + "Un article.\n" * 200 + "\n[[unsubscribe_url]]\n"
    return RenderedEmail(ISSUE, "Le Jeudi n°148", "Cette semaine", html, text)


def batches(size: int, batch_size: int, rendered: RenderedEmail) -> Iterator[Batch]:
    for start in range(0, size, batch_size):
        items = tuple(
            BatchItem(
                n,
                Recipient(
                    f"abonne.{n}@example.org", f"Prénom{n} Nom{n}", f"Prénom{n}", {"ville": "Lyon"}
                ),
                f"<{n:020x}.{n}@example.org>",
            )
            for n in range(start, min(size, start + batch_size))
        )
        yield Batch(f"{ISSUE}-real1-b{start // batch_size + 1}", ISSUE, False, 1, rendered, items)


async def _send_all(provider: BrevoProvider, size: int, batch_size: int) -> float:
    rendered = rendered_email()
    cpu = 0.0
    async with provider:
        for batch in batches(size, batch_size, rendered):
            started = time.process_time()
            results = await provider.send_batch(batch)
            cpu += time.process_time() - started
            assert all(r.status is Status.SENT for r in results), results[0]
    return cpu


def run_one(size: int, batch_size: int, profile: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-brevo-") as folder:
        root = Path(folder)
        port_file = root / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}"
            os.environ["BREVO_API_KEY"] = "bench-key"  # the fake takes any key
            config = load_config(write_project(root, url, batch_size))
            provider = create_provider(config, secret=b"bench-secret")
            assert isinstance(provider, BrevoProvider)
            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            cpu = asyncio.run(_send_all(provider, size, batch_size))
            if profiler is not None:
                profiler.disable()
                table = pstats.Stats(profiler, stream=sys.stderr)
                table.sort_stats("tottime").print_stats(18)
            import httpx

            stats = httpx.get(url).json()
        finally:
            server.kill()
            server.wait()
        return {
            "recipients": size,
            "cpu_us": cpu / size * 1e6,
            "bytes_per_recipient": stats["bytes"] / size,
            "requests": stats["requests"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--profile", type=int, metavar="SIZE", help="cProfile one run")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.profile:
        print(json.dumps(run_one(args.profile, args.batch_size, profile=True)))
        return
    if args.one:
        print(json.dumps(run_one(args.one, args.batch_size)))
        return
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"brevo, batch size {args.batch_size}, one request at a time, loopback fake")
    print("recipients | client CPU µs/recipient | bytes/recipient | requests | peak RSS MB")
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--batch-size", str(args.batch_size)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{r['recipients']:,} | {r['cpu_us']:.1f} | {r['bytes_per_recipient']:,.0f} | "
            f"{r['requests']:,} | {r['peak_rss_mb']:.0f}"
        )


if __name__ == "__main__":
    main()
