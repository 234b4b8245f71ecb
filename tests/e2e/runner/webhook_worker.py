"""A worker process for the webhook crash test: the real runner with the real delivery step.

    python -m tests.e2e.runner.webhook_worker --db URL --concurrency N --lease S
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import timedelta

from medsign.clock import SystemClock
from medsign.config import WebhookSettings
from medsign.db.engine import make_engine
from medsign.runner.worker import RunnerConfig, Worker
from medsign.webhooks.flow import WebhookFlow


async def serve(args: argparse.Namespace) -> None:
    engine = make_engine(args.db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    config = RunnerConfig(concurrency=args.concurrency, lease=timedelta(seconds=args.lease),
                          poll_interval=timedelta(milliseconds=100))
    settings = WebhookSettings(timeout=timedelta(seconds=5),
                               backoff_base=timedelta(milliseconds=100),
                               backoff_cap=timedelta(seconds=1))
    try:
        await Worker(engine, [WebhookFlow(settings, SystemClock())], config).run(stop)
    finally:
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--lease", type=float, default=2.0)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
