"""Run ``python -m medsign …`` under cProfile in *every* thread; dump merged stats on exit.

``python bench/_profiled.py OUT.prof emulate goskey …`` is ``python -m medsign emulate goskey
…`` with a profiler per thread. Plain ``python -m cProfile`` sees only the main thread, and the
interesting work does not run there: the worker verifies and signs in ``asyncio.to_thread``
and talks to the database from its own thread; the emulator renders and seals in Starlette's
thread pool. The timer is each thread's CPU time (``time.thread_time``), so waiting — for the
GIL, a lock, a socket — costs nothing and the totals add up to the process's CPU time. Stats of
all threads are merged into ``OUT.prof`` when the command returns (both processes stop on
SIGTERM by finishing normally; uvicorn re-raises the signal afterwards, which ends up here as
``SystemExit``).
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import runpy
import signal
import sys
import threading
import time
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
# _bootstrap_inner, not run: anyio's worker threads (Starlette's thread pool) override run()
_original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _profiled_bootstrap(self: threading.Thread) -> None:
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()
    try:
        _original_bootstrap(self)
    finally:
        profile.disable()


def _exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    threading.Thread._bootstrap_inner = _profiled_bootstrap  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, _exit)
    main_profile = cProfile.Profile(time.thread_time)
    sys.argv = ["medsign", *args]
    main_profile.enable()
    code: Any = 0
    try:
        runpy.run_module("medsign", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    finally:
        main_profile.disable()
        with _lock:
            others = list(_profiles)
        stats = pstats.Stats(main_profile)
        for profile in others:
            with contextlib.suppress(TypeError, ValueError):  # a thread that never ran
                stats.add(profile)
        stats.dump_stats(out)
    sys.exit(code)


if __name__ == "__main__":
    main()
