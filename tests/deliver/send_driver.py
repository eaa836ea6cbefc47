"""A send process for the crash tests: ``python send_driver.py CONFIG [--test]``.

It sends a fixed rendered email through the real service, as the CLI would, so the tests do
not depend on the render stage; SIGTERM/SIGINT stop it gracefully, SIGKILL does not.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from newsletter.config import load_config
from newsletter.deliver.service import execute_send, open_ledger, prepare_send, send_lock
from newsletter.model import RenderedEmail
from newsletter.tokens import load_secret

RENDERED = RenderedEmail(
    date=date(2026, 12, 3),
    subject="Le Jeudi de l'ODD 17 n°3",
    preheader="",
    html='<p>Bonjour [[first_name]] <a href="[[unsubscribe_url]]">désinscription</a></p>',
    text="Bonjour [[first_name]]\n[[unsubscribe_url]]\n",
)


def main() -> int:
    config = load_config(Path(sys.argv[1]))
    test = "--test" in sys.argv
    with open_ledger(config) as ledger, send_lock(config):
        existing = ledger.latest_send(RENDERED.date, test=test)
        if existing is not None and existing.finished_at is not None and not test:
            print("already sent")
            return 0
        plan = prepare_send(ledger, config, RENDERED, RENDERED.date, test=test)
        print("ready", plan.to_send, flush=True)
        report = asyncio.run(
            execute_send(ledger, config, plan.send, secret=load_secret(config), handle_signals=True)
        )
    for line in report.lines():
        print(line, flush=True)
    return 1 if report.run.error else 0


if __name__ == "__main__":
    sys.exit(main())
