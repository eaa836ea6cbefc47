"""Render benchmark: median time of a full render (template, MJML, text part, checks).

For the sample issue (14 items) and a 40-item issue, with mjml-python, against the official
Node ``mjml`` package compiling the same MJML inside one Node process (installed from npm into
.cache/npm-mjml on first run; pass --no-node to skip it). Prints a Markdown table for
docs/benchmarks.md.

    .venv/bin/python bench/bench_render.py [--runs 200] [--no-node]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from newsletter.config import load_config
from newsletter.render import render_issue
from newsletter.render.check import check_issue
from newsletter.render.compile import compile_mjml
from newsletter.render.sample import sample_issue

REPO = Path(__file__).resolve().parents[1]
NODE_PREFIX = REPO / ".cache" / "npm-mjml"
NODE_SCRIPT = r"""
const mjml2html = require(process.argv[2]);
const fs = require('fs');
const runs = parseInt(process.argv[3], 10);
const out = {};
for (const file of process.argv.slice(4)) {
  const source = fs.readFileSync(file, 'utf8');
  for (let i = 0; i < 20; i++) mjml2html(source, {validationLevel: 'skip'});
  const times = [];
  let html = '';
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    html = mjml2html(source, {validationLevel: 'skip'}).html;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  out[file] = {median_ms: times[Math.floor(times.length / 2)], bytes: Buffer.byteLength(html)};
}
console.log(JSON.stringify(out));
"""


def median_ms(func: Callable[[], object], runs: int) -> float:
    for _ in range(min(20, runs)):
        func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def node_mjml(sources: dict[str, str], runs: int) -> dict[str, tuple[float, int]] | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("node/npm not found: skipping the Node mjml reference", file=sys.stderr)
        return None
    module = NODE_PREFIX / "node_modules" / "mjml"
    if not module.is_dir():
        NODE_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(NODE_PREFIX),
                "mjml@4",
            ],
            check=True,
        )
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, source in sources.items():
            path = Path(tmp) / f"{name}.mjml"
            path.write_text(source, encoding="utf-8")
            files[str(path)] = name
        script = Path(tmp) / "bench.js"
        script.write_text(NODE_SCRIPT, encoding="utf-8")
        result = subprocess.run(
            [node, str(script), str(module), str(runs), *files],
            check=True,
            capture_output=True,
            text=True,
        )
    data = json.loads(result.stdout)
    return {files[f]: (v["median_ms"], v["bytes"]) for f, v in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-node", action="store_true")
    args = parser.parse_args()

    config = load_config(REPO / "schedule.yaml")
    issues = {
        "sample (14 items)": sample_issue(config.section_list),
        "40 items": sample_issue(config.section_list, items=40),
    }
    rows = []
    sources = {}
    for label, issue in issues.items():
        rendered = render_issue(issue, config)
        sources[label] = rendered.mjml
        full = median_ms(lambda i=issue: check_issue(i, render_issue(i, config), config), args.runs)
        compile_only = median_ms(lambda m=rendered.mjml: compile_mjml(m), args.runs)
        rows.append((label, full, compile_only, len(rendered.html.encode("utf-8"))))
    node = None if args.no_node else node_mjml(sources, max(20, args.runs // 4))

    print(f"machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}")
    print(f"runs: {args.runs} (median)\n")
    print(
        "| issue | full render + checks | MJML only (mjml-python) | HTML size "
        "| MJML only (Node mjml) | HTML size (Node) | Node / Python |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, full, compile_only, size in rows:
        if node and label in node:
            node_ms, node_bytes = node[label]
            extra = f"{node_ms:.2f} ms | {node_bytes / 1024:.1f} KB | {node_ms / compile_only:.0f}x"
        else:
            extra = "- | - | -"
        print(
            f"| {label} | {full:.2f} ms | {compile_only:.2f} ms | {size / 1024:.1f} KB | {extra} |"
        )


if __name__ == "__main__":
    main()
