"""Serve the ESIA emulator on a real socket with the demo's test people.

``medsign`` has no ``emulate esia`` command yet, so the browser stand starts the emulator the
way ``medsign demo`` builds it (same client id, redirect URL and people — among them «Иванова
Мария Петровна», who is the demo patient ``demo-p1``), but as a process of its own::

    python -m tests.e2e.browser.esia_emulator --port P --redirect-url URL --state-dir D
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medsign.demo import ESIA_CLIENT_ID, ESIA_PERSONS
from medsign.integrations.esia.emulator import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redirect-url", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    run("127.0.0.1", args.port, client_id=ESIA_CLIENT_ID, redirect_urls=(args.redirect_url,),
        state_dir=args.state_dir, persons=ESIA_PERSONS, log_level="warning")


if __name__ == "__main__":
    main()
