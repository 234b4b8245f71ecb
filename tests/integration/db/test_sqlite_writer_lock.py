"""SQLite writers queue on ``<database>-writer.lock`` (``medsign.db.engine``): one writer at a
time across connections and processes, given up however the transaction ends, and a clear
``database is locked`` after the busy timeout rather than a hang."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from medsign.db.engine import make_engine, read_only


def engine_at(path: Path, timeout: float = 5.0) -> Engine:
    engine = make_engine(f"sqlite:///{path}", busy_timeout_s=timeout)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    return engine


def test_writers_take_turns_and_every_way_out_of_a_transaction_lets_the_next_in(
        tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    first, second = engine_at(db), engine_at(db, timeout=0.2)
    assert (tmp_path / "w.db-writer.lock").exists()
    with first.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(OperationalError, match="database is locked"), second.begin():
            pass
        with read_only(second) as reader:  # readers never queue
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
    with second.begin() as conn:  # released by the commit
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with pytest.raises(RuntimeError), first.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
        raise RuntimeError("boom")
    with second.begin() as conn:  # released by the rollback
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    conn = first.connect()  # returned to the pool mid-transaction: rolled back, released
    conn.begin()
    conn.execute(text("INSERT INTO t VALUES (4)"))
    conn.close()
    with second.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (5)"))
    first.dispose()
    second.dispose()


def test_a_waiting_writer_goes_in_as_soon_as_the_holder_commits(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    holder, waiter = engine_at(db), engine_at(db)
    entered = threading.Event()
    waited: list[float] = []

    def wait_for_turn() -> None:
        entered.wait()
        started = time.monotonic()
        with waiter.begin() as conn:
            waited.append(time.monotonic() - started)
            conn.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=wait_for_turn)
    thread.start()
    with holder.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        entered.set()
        time.sleep(0.2)
    thread.join(10)
    assert waited and waited[0] >= 0.15  # it did wait for the holder...
    with read_only(holder) as conn:  # ...and both writes are there, in order
        assert conn.execute(text("SELECT n FROM t ORDER BY rowid")).scalars().all() == [1, 2]
    holder.dispose()
    waiter.dispose()


HOLD = """
import sys, time
from sqlalchemy import Engine, text
from medsign.db.engine import make_engine
engine = make_engine(f"sqlite:///{sys.argv[1]}")
conn = engine.connect()
conn.begin()
conn.execute(text("INSERT INTO t VALUES (9)"))
print("holding", flush=True)
time.sleep(60)
"""


def test_a_process_killed_while_writing_frees_the_queue(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    engine = engine_at(db, timeout=2.0)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        with pytest.raises(OperationalError, match="locked"), engine.begin():
            pass
    finally:
        proc.kill()
        proc.communicate()
    with engine.begin() as conn:  # the kernel dropped the dead process's lock
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]
    engine.dispose()
