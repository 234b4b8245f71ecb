"""The installation's revocation lists: files and http(s) URLs (``signing.crls``), read
again when older than ``signing.crl_refresh``, downloaded ones cached on disk.

:class:`CrlSources` is the trust stores' :class:`~medsign.crypto.crl.RevocationSource`:

- ``lists()`` first refreshes the sources that are due, then answers with the newest good
  list of each. A refresh runs in the calling thread (the verifier runs off the event loop);
  while one thread refreshes a source, others keep using its current list and do not wait —
  only a source with no list yet makes them wait for the first answer.
- A file is read again; a URL is fetched with a timeout and a size bound (``httpx``'s
  synchronous client: the trust store is synchronous, and a CRL is one plain GET), and the
  good answer is written to the cache directory (``<sha256 of the URL>.crl`` with a
  ``.json`` beside it saying when it was fetched). At start each URL's list comes from that
  cache, so the ``serve`` and ``worker`` processes of one machine share downloads: a list
  fresher than ``crl_refresh`` is not fetched again.
- A failed read or fetch keeps the list it had (or the cache), records the error for the
  status, and is tried again after ``min(crl_refresh, 5 min)``. A list older than the one
  already held (a stale mirror) is refused the same way. A list past its nextUpdate is still
  used and shown as stale.
- ``status()`` says, per source: issuer, thisUpdate, nextUpdate, when fetched, age (now −
  thisUpdate), stale, and the last error — a fetch error, or why the trust store would not
  use the list (``reject``: wrong signature, the CA lacks cRLSign).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from medsign.clock import Clock
from medsign.crypto import CryptoError
from medsign.crypto.crl import RevocationList, parse_crl

log = logging.getLogger("medsign.crl")
# Lists of the big Russian CAs run to tens of megabytes; a larger answer is refused unread.
MAX_CRL_BYTES = 64 * 1024**2
FETCH_TIMEOUT = 30.0
RETRY_CAP = timedelta(minutes=5)


@dataclass(frozen=True)
class CrlStatus:
    """One configured source as the console shows it; ``error`` is None when all is well."""

    source: str
    issuer: str | None
    this_update: datetime | None
    next_update: datetime | None
    fetched_at: datetime | None
    age: timedelta | None
    stale: bool
    error: str | None


class CrlUnavailable(Exception):
    """A source gave no usable list this time; the message is for the operator."""


class _Source:
    """One configured file or URL, its current list and what happened last."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.is_url = source.startswith(("http://", "https://"))
        self.current: RevocationList | None = None
        self.fetched_at: datetime | None = None
        self.tried_at: datetime | None = None
        self.error: str | None = None
        self.rejected: str | None = None
        self.lock = threading.Lock()


class CrlSources:
    def __init__(self, sources: Sequence[str], *, cache_dir: Path, refresh: timedelta,
                 clock: Clock, timeout: float = FETCH_TIMEOUT,
                 max_bytes: int = MAX_CRL_BYTES,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._sources = [_Source(s) for s in dict.fromkeys(sources)]
        self._cache_dir, self._refresh, self._clock = cache_dir, refresh, clock
        self._timeout, self._max_bytes, self._transport = timeout, max_bytes, transport
        for source in self._sources:
            if source.is_url:
                self._load_cache(source)

    # -- RevocationSource ------------------------------------------------------------------
    def lists(self) -> list[RevocationList]:
        self._refresh_due()
        return [s.current for s in self._sources if s.current is not None]

    def reject(self, revocation_list: RevocationList, reason: str) -> None:
        for source in self._sources:
            if source.current is revocation_list and source.rejected != reason:
                source.rejected = reason
                log.warning("CRL %s is not used: %s", source.source, reason)

    # -- the console -----------------------------------------------------------------------
    def status(self, *, refresh: bool = True) -> list[CrlStatus]:
        """``refresh=False``: what is known now, without reading or fetching (metrics)."""
        if refresh:
            self._refresh_due()
        now = self._clock.now()
        return [_status(source, now) for source in self._sources]

    def now(self) -> datetime:
        return self._clock.now()

    def refresh(self) -> None:
        """Refresh every source now, whatever its age (``medsign`` commands, tests)."""
        for source in self._sources:
            with source.lock:
                self._update(source)

    # -- refreshing ------------------------------------------------------------------------
    def _refresh_due(self) -> None:
        for source in self._sources:
            if not self._due(source):
                continue
            # with a list in hand, never wait for another thread's refresh of it
            if not source.lock.acquire(blocking=source.current is None):
                continue
            try:
                if self._due(source):
                    self._update(source)
            finally:
                source.lock.release()

    def _due(self, source: _Source) -> bool:
        if source.tried_at is None:
            return True
        wait = self._refresh if source.error is None else min(self._refresh, RETRY_CAP)
        return self._clock.now() - source.tried_at >= wait

    def _update(self, source: _Source) -> None:
        """Under ``source.lock``. ``tried_at`` is set last: until then other threads see the
        source as due and (having no list yet) wait for this attempt."""
        now = self._clock.now()
        try:
            data = self._fetch(source.source) if source.is_url else _read(source.source)
            fresh = _parsed(data, source.current)
        except CrlUnavailable as exc:
            source.error, source.tried_at = str(exc), now
            log.warning("CRL %s: %s", source.source, exc)
            return
        if source.is_url:
            self._save_cache(source.source, data, now)
        source.current, source.fetched_at, source.error, source.rejected = fresh, now, None, None
        source.tried_at = now

    def _fetch(self, url: str) -> bytes:
        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=True,
                              transport=self._transport) as client, \
                    client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise CrlUnavailable(f"сервер ответил {response.status_code}")
                return self._bounded(response)
        except httpx.HTTPError as exc:
            raise CrlUnavailable(f"не удалось скачать: {type(exc).__name__}: {exc}") from None

    def _bounded(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise CrlUnavailable(f"список больше {self._max_bytes} байт")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise CrlUnavailable(f"список больше {self._max_bytes} байт")
        return bytes(body)

    # -- the disk cache --------------------------------------------------------------------
    def _cache_files(self, url: str) -> tuple[Path, Path]:
        stem = hashlib.sha256(url.encode()).hexdigest()[:32]
        return self._cache_dir / f"{stem}.crl", self._cache_dir / f"{stem}.json"

    def _load_cache(self, source: _Source) -> None:
        data_file, meta_file = self._cache_files(source.source)
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            fetched = datetime.fromisoformat(meta["fetched_at"])
            cached = parse_crl(data_file.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, CryptoError) as exc:
            log.warning("CRL cache of %s is unreadable, fetching again: %s", source.source, exc)
            return
        if meta.get("source") != source.source:
            return
        source.current, source.fetched_at, source.tried_at = cached, fetched, fetched

    def _save_cache(self, url: str, data: bytes, fetched_at: datetime) -> None:
        data_file, meta_file = self._cache_files(url)
        meta = json.dumps({"source": url, "fetched_at": fetched_at.isoformat()})
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            _replace(data_file, data)
            _replace(meta_file, meta.encode())
        except OSError as exc:
            log.warning("CRL cache %s cannot be written: %s", self._cache_dir, exc)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CrlUnavailable(f"файл не читается: {exc.strerror or exc}") from None


def _parsed(data: bytes, current: RevocationList | None) -> RevocationList:
    try:
        fresh = parse_crl(data)
    except CryptoError as exc:
        raise CrlUnavailable(exc.message) from None
    if current is not None and fresh.this_update < current.this_update:
        raise CrlUnavailable(f"получен список от {fresh.this_update:%d.%m.%Y %H:%M} UTC — "
                             f"старее имеющегося от {current.this_update:%d.%m.%Y %H:%M} UTC")
    return fresh


def _replace(target: Path, data: bytes) -> None:
    """Write beside ``target`` and rename over it: a reader never sees half a file."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _status(source: _Source, now: datetime) -> CrlStatus:
    found = source.current
    return CrlStatus(
        source=source.source, issuer=found.issuer if found else None,
        this_update=found.this_update if found else None,
        next_update=found.next_update if found else None, fetched_at=source.fetched_at,
        age=now - found.this_update if found else None,
        stale=bool(found and found.stale(now)),
        error=source.error or source.rejected or (None if found else "списка ещё нет"))
