"""Desk benchmark: time to answer the sample issue's page and its JSON over HTTP (target < 200 ms).

A copy of the sample project is collected (the local sample feeds: 2 editor items and 13
collected ones), the desk is started on loopback, and each request is timed from the client:
warm (nothing changed: the render is cached, the listing and the ETag are computed again) and
cold (a file of the issue was touched just before: prepare, render, check again), and a write
(PATCH of one item's title with If-Match, answered with the new issue). Prints a Markdown table
for docs/benchmarks.md.

    .venv/bin/python bench/bench_desk.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.desk import DeskContext, DeskServer
from newsletter.desk.api import issue_json

REPO = Path(__file__).resolve().parents[1]
DATE = "2026-12-03"


def project(root: Path) -> Path:
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    issue = root / "bulletins" / DATE
    issue.mkdir(parents=True)
    for path in (REPO / "bulletins" / DATE).glob("*.md"):
        shutil.copyfile(path, issue / path.name)
    result = CliRunner().invoke(app, ["--config", str(root / "schedule.yaml"), "collect", DATE])
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return issue


def timed(func: Callable[[], httpx.Response], runs: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        response = func()
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(
                f"{response.request.url}: {response.status_code} {response.text[:200]}"
            )
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        issue = project(Path(scratch))
        issue_md = issue / "issue.md"

        def touch() -> None:
            now = time.time_ns()
            os.utime(issue_md, ns=(now, now))

        def nothing() -> None:
            pass

        draft = issue / "collected.yaml"
        edits = iter(range(10**6))

        def edit_draft() -> None:
            with draft.open("a", encoding="utf-8") as handle:
                handle.write(f"# note {next(edits)}\n")

        with (
            DeskServer(Path(scratch) / "schedule.yaml", port=0) as desk,
            httpx.Client(base_url=desk.url.rstrip("/"), timeout=60) as client,
        ):
            api = f"/api/issues/{DATE}"
            page = f"/{DATE}/"
            client.get(api)
            rows = [
                ("GET " + api + " (warm)", timed(lambda: client.get(api), args.runs, nothing)),
                (
                    "GET " + api + " (cold: file touched)",
                    timed(lambda: client.get(api), args.runs, touch),
                ),
                (
                    "GET " + api + " (cold: collected.yaml edited)",
                    timed(lambda: client.get(api), args.runs, edit_draft),
                ),
                ("GET " + page + " (warm)", timed(lambda: client.get(page), args.runs, nothing)),
                (
                    "GET " + page + " (cold: file touched)",
                    timed(lambda: client.get(page), args.runs, touch),
                ),
                ("GET /api/issues", timed(lambda: client.get("/api/issues"), args.runs, nothing)),
            ]
            counter = iter(range(10**6))

            def patch() -> httpx.Response:
                etag = client.get(api).headers["etag"]
                start = time.perf_counter()
                response = client.patch(
                    f"{api}/items/7fa733c54245",
                    json={"title": f"Titre {next(counter)}"},
                    headers={"If-Match": etag},
                )
                patch_times.append((time.perf_counter() - start) * 1000)
                return response

            patch_times: list[float] = []
            timed(patch, args.runs, nothing)
            rows.append(
                (f"PATCH {api}/items/ID (write + new issue)", statistics.median(patch_times))
            )
        cpu = []
        config_file = Path(scratch) / "schedule.yaml"
        day = date.fromisoformat(DATE)
        for _ in range(args.runs):
            context = DeskContext(config_file)  # nothing cached: prepare, render, check, list
            config = context.config()
            edit_draft()  # a draft text never read before
            start = time.process_time()
            issue_json(context, config, day)
            cpu.append((time.process_time() - start) * 1000)
        cpu_row = ("issue JSON from scratch, in process (CPU time)", statistics.median(cpu))
    print(f"desk, sample issue (15 items), median of {args.runs} requests over loopback\n")
    print("| request | median |")
    print("| --- | ---: |")
    for name, ms in rows:
        print(f"| `{name}` | {ms:.1f} ms |")
    print(f"| {cpu_row[0]} | {cpu_row[1]:.1f} ms |")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
