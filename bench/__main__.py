"""Run every benchmark in bench/ (``python -m bench``, or ``make bench``); figures go to stdout.

Each ``bench_*.py`` module is run as its own process so one benchmark's memory does not skew
another's. Record the figures in docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"== {script.name}", flush=True)
        result = subprocess.run([sys.executable, str(script)], check=False)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
