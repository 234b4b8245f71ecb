"""Serve medsign's pages as a release of a given name, for the service worker's update test::

    python -m tests.e2e.browser.app_release --port P --database PATH --release NAME

A release's version is a hash of the files the worker caches (``web.app.shell.version``);
a test cannot edit the package's files, so this process names its release instead. Two of
these, one after the other on the same port, are an installation before and after an update.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from medsign.app import create_app
from medsign.db.engine import make_engine
from medsign.db.models import Base
from medsign.domain.app_regions import default_region
from medsign.web.app import shell
from medsign.web.config import AppShell, WebSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--release", required=True)
    args = parser.parse_args()
    release: str = args.release
    shell.version = lambda: release  # type: ignore[method-assign,assignment]
    url = f"http://127.0.0.1:{args.port}"
    engine = make_engine(f"sqlite:///{args.database}")
    Base.metadata.create_all(engine)
    region = default_region("Тест", url, max_enabled=False, esia_enabled=False)
    app = create_app(engine, web=WebSettings(cookie_secure=False,
                                             app=AppShell(public_url=url, regions=(region,))))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
