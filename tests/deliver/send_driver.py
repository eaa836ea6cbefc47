"""A send process for the crash tests: ``python send_driver.py CONFIG [--test]``.

It sends a fixed rendered email through the one send sequence (``send_issue``) with the hooks
the CLI uses, so the tests do not depend on the render stage; SIGTERM/SIGINT stop it
gracefully, SIGKILL does not.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from newsletter.config import load_config
from newsletter.deliver.service import SendHooks, send_issue
from newsletter.model import RenderedEmail

RENDERED = RenderedEmail(
    date=date(2026, 12, 3),
    subject="Le Jeudi de l'ODD 17 n°3",
    preheader="",
    html='<p>Bonjour [[first_name]] <a href="[[unsubscribe_url]]">désinscription</a></p>',
    text="Bonjour [[first_name]]\n[[unsubscribe_url]]\n",
)


def main() -> int:
    config = load_config(Path(sys.argv[1]))
    hooks = SendHooks(
        on_plan=lambda plan: print("ready", plan.to_send, flush=True), handle_signals=True
    )
    report = asyncio.run(
        send_issue(
            config,
            RENDERED.date,
            lambda: RENDERED,
            test="--test" in sys.argv,
            hooks=hooks,
            lock_wait=0,
        )
    )
    for line in report.lines():
        print(line, flush=True)
    return 1 if report.run.error else 0


if __name__ == "__main__":
    sys.exit(main())
