"""Benchmark the send engine: 100,000 and 1,000,000 recipients to a null provider.

    .venv/bin/python bench/bench_send.py [--sizes 100000 1000000] [--batch-size 1000]

Each size runs in its own subprocess so that its peak RSS is its own. Reported: the time to
snapshot the audience (CSV read, validated, de-duplicated into the ledger), the time to send
(batches claimed, recorded in flight, "sent" by the null provider, recorded), recipients per
second for both, peak RSS, and the ledger's size on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import ClassVar

from newsletter.config import load_config
from newsletter.deliver.providers import (
    Batch,
    Provider,
    ProviderContext,
    RecipientResult,
    Status,
    register_provider,
)
from newsletter.deliver.service import execute_send, open_ledger, prepare_send
from newsletter.model import RenderedEmail

RENDERED_HTML = "<p>Bonjour [[first_name]]</p>" + "<p>Une bonne nouvelle des territoires.</p>" * 200


@register_provider
class NullProvider(Provider):
    """Answers every recipient as sent at once: measures the engine and the ledger alone."""

    name: ClassVar[str] = "null"
    max_batch_size: ClassVar[int] = 1000
    personalizes: ClassVar[bool] = True

    @classmethod
    def from_context(cls, context: ProviderContext) -> NullProvider:
        return cls()

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        return [RecipientResult(item.idx, Status.SENT) for item in batch.items]


def write_project(root: Path, size: int, batch_size: int, in_flight: int) -> Path:
    with (root / "subscribers.csv").open("w", encoding="utf-8") as handle:
        handle.write("email,first_name,name\n")
        for n in range(size):
            handle.write(f"abonne.{n}@example.org,Prénom{n},Prénom{n} Nom{n}\n")
    config = root / "schedule.yaml"
    config.write_text(
        "newsletter:\n"
        '  title: "Bench"\n'
        '  sender: {name: "Bench", email: "bench@example.org"}\n'
        '  web_url: "https://example.org/jeudi"\n'
        "delivery:\n"
        "  audience: {csv: subscribers.csv}\n"
        f"  options: {{batch_size: {batch_size}, max_in_flight: {in_flight}}}\n",
        encoding="utf-8",
    )
    return config


def run_one(size: int, batch_size: int, in_flight: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
        root = Path(folder)
        config = load_config(write_project(root, size, batch_size, in_flight))
        rendered = RenderedEmail(date(2026, 12, 3), "Bench", "", RENDERED_HTML, "Bonjour\n")
        with open_ledger(config) as ledger:
            started = time.perf_counter()
            plan = prepare_send(ledger, config, rendered, rendered.date)
            snapshot = time.perf_counter() - started
            started = time.perf_counter()
            report = asyncio.run(
                execute_send(ledger, config, plan.send, secret=b"bench", provider=NullProvider())
            )
            send = time.perf_counter() - started
            assert report.finished and report.counts["sent"] == size, report.lines()
        ledger_bytes = sum(p.stat().st_size for p in config.state_dir.glob("ledger.sqlite3*"))
        return {
            "recipients": size,
            "snapshot_s": snapshot,
            "snapshot_per_s": size / snapshot,
            "send_s": send,
            "send_per_s": size / send,
            "total_per_s": size / (snapshot + send),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ledger_mb": ledger_bytes / 1e6,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.batch_size, args.in_flight)))
        return
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"batch size {args.batch_size}, {args.in_flight} batches in flight, null provider")
    header = (
        "recipients",
        "snapshot s",
        "snapshot/s",
        "send s",
        "send/s",
        "overall/s",
        "peak RSS MB",
        "ledger MB",
    )
    print(" | ".join(header))
    for size in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--batch-size",
                str(args.batch_size),
                "--in-flight",
                str(args.in_flight),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{r['recipients']:,} | {r['snapshot_s']:.1f} | {r['snapshot_per_s']:,.0f} | "
            f"{r['send_s']:.1f} | {r['send_per_s']:,.0f} | {r['total_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} | {r['ledger_mb']:.0f}"
        )


if __name__ == "__main__":
    main()
