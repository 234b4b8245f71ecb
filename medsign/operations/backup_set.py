"""Backup sets: one file holding everything an installation needs to come back.

A set is an uncompressed tar archive (mode 0600; written to ``TARGET.tmp``, fsynced and
renamed, so a set under its final name is always whole) with these members::

    manifest.json                 what the set holds: see :class:`Manifest`
    database/medsign.sqlite       the database backup of medsign.db.backup, with its own
    database/medsign.sqlite.json  manifest (or medsign.pgdump/.json for PostgreSQL)
    config/<name>                 the configuration file in use, if any
    keys/...                      the МО key store (signing.key_store or var/keys)
    key-passwords/...             signing.key_passwords_dir, if set
    trust/<role>/<name>           trust_store, mo_trust_store, max/goskey/esia CA bundles
    trust/crl-<n>/<name>          the entries of signing.crls that are files

The manifest gives every other member's role, original absolute path, size, mode and
SHA-256. A set read back is hostile input: :func:`open_set` refuses unsafe names, links and
special files, and reports every missing, extra, changed or truncated member before anything
is used. :func:`check_contents` restores the database into a scratch place and reads what
the set holds; :func:`restore_files` puts files back, moving what it would replace aside.

Every failure is a :class:`SetError` whose message is meant for the operator (Russian).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from sqlalchemy import URL, Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from medsign.config import ConfigError, Settings, load_settings
from medsign.crypto import CryptoError, TrustStore
from medsign.crypto.crl import parse_crl
from medsign.crypto.keys import load_pem
from medsign.db.backup import BackupError, BackupInfo, create_backup, restore_backup
from medsign.db.engine import normalize_url, sqlite_path
from medsign.db.migrate import current_revision
from medsign.domain.liveness import ProcessRecord
from medsign.files import fsync_path
from medsign.operations.presence import forget_all, medsign_version, processes
from medsign.signing.identities import CERTIFICATE_FILE, CONTAINER_FILE, DEV_CA_FILE, KEY_FILE

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_LIMIT = 16 * 1024**2  # far above any real manifest; a bigger one is not ours
CHUNK = 1024**2
# What a dated set is called: `medsign backup DIR` names it so, `backup prune` looks for it.
SET_NAME = re.compile(r"^medsign-(\d{8}T\d{6}Z)\.tar$")
SET_STAMP = "%Y%m%dT%H%M%SZ"
DB_FILES = {"sqlite": "database/medsign.sqlite", "postgresql": "database/medsign.pgdump"}
# The single-file trust material, by role: the setting that names it.
TRUST_ROLES = {"trust_store": "signing.trust_store", "mo_trust_store": "signing.mo_trust_store",
               "max_ca_bundle": "max.ca_bundle", "goskey_ca_bundle": "goskey.ca_bundle",
               "esia_ca_bundle": "esia.ca_bundle"}
FOLDER_ROLES = {"key_store": "keys", "key_passwords": "key-passwords"}
# Tables whose counts say what a database holds (the report of verify and of restore).
COUNTED = {"organizations": "МО", "signing_requests": "запросов на подписание",
           "documents": "документов"}
# Never counted as "data" in a target: bookkeeping that a fresh installation writes too.
NOT_DATA = frozenset({"alembic_version", "service_processes", "singletons", "work_items",
                      "rate_buckets", "external_call_stats"})

ProgressCallback = Callable[[int, int], None]
ProgressFactory = Callable[[str], AbstractContextManager[ProgressCallback]]


class SetError(Exception):
    """A set could not be made, read or restored; the message says why, in Russian."""


# --- what is backed up, and from where ----------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Where an installation's parts are: read by a backup, written by a restore."""

    database_url: str
    key_store: Path
    key_passwords_dir: Path | None = None
    config_file: Path | None = None
    trust: dict[str, Path] = field(default_factory=dict)  # role -> file (TRUST_ROLES)
    crls: tuple[Path, ...] = ()


def places_of(settings: Settings, *, key_store: Path, config_file: Path | None) -> Places:
    """The places ``settings`` name; ``key_store`` is the resolved one (the container's)."""
    s = settings.signing
    named = {"trust_store": s.trust_store, "mo_trust_store": s.mo_trust_store,
             "max_ca_bundle": settings.max.ca_bundle,
             "goskey_ca_bundle": settings.goskey.ca_bundle,
             "esia_ca_bundle": settings.esia.ca_bundle}
    return Places(database_url=settings.database.url, key_store=_absolute(key_store),
                  key_passwords_dir=_absolute(s.key_passwords_dir) if s.key_passwords_dir
                  else None,
                  config_file=_absolute(config_file) if config_file else None,
                  trust={role: _absolute(path) for role, path in named.items() if path},
                  crls=tuple(_absolute(Path(c)) for c in s.crls if "://" not in c))


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


# --- the manifest -------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str  # inside the archive
    role: str
    path: str  # original absolute path
    size: int
    sha256: str
    mode: int


@dataclass(frozen=True)
class Manifest:
    format: int
    medsign_version: str
    created_at: datetime
    host: str
    backend: str
    schema_revision: str | None
    roots: dict[str, str]  # folder role -> original absolute path
    members: tuple[Member, ...]

    def by_role(self, role: str) -> list[Member]:
        return [m for m in self.members if m.role == role]

    def to_json(self) -> bytes:
        raw = {"format": self.format, "medsign_version": self.medsign_version,
               "created_at": self.created_at.isoformat(), "host": self.host,
               "database": {"backend": self.backend, "schema_revision": self.schema_revision},
               "roots": self.roots,
               "members": [{"name": m.name, "role": m.role, "path": m.path, "size": m.size,
                            "sha256": m.sha256, "mode": f"{m.mode:04o}"} for m in self.members]}
        return (json.dumps(raw, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw["format"] != FORMAT:
                raise SetError(f"{MANIFEST} в неизвестном формате {raw['format']!r}: набор "
                               "создан другой версией medsign")
            members = tuple(Member(name=_text(m["name"]), role=_text(m["role"]),
                                   path=_text(m["path"]), size=int(m["size"]),
                                   sha256=_text(m["sha256"]), mode=int(m["mode"], 8) & 0o777)
                            for m in raw["members"])
            revision = raw["database"]["schema_revision"]
            return cls(format=FORMAT, medsign_version=_text(raw["medsign_version"]),
                       created_at=datetime.fromisoformat(raw["created_at"]),
                       host=_text(raw["host"]), backend=_text(raw["database"]["backend"]),
                       schema_revision=None if revision is None else _text(revision),
                       roots={_text(k): _text(v) for k, v in raw["roots"].items()},
                       members=members)
        except SetError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SetError(f"{MANIFEST} повреждён (поле {exc}): набор проверить нельзя") \
                from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(repr(value))
    return value


# --- making a set -------------------------------------------------------------------------


@dataclass(frozen=True)
class SetInfo:
    path: Path
    size: int
    manifest: Manifest
    skipped: tuple[str, ...]  # what was left out, and why (Russian)


def set_name(when: datetime) -> str:
    return f"medsign-{when.astimezone(UTC).strftime(SET_STAMP)}.tar"


def create_set(places: Places, target: Path, *,
               progress: ProgressFactory | None = None) -> SetInfo:
    """Back up ``places`` into ``target`` (a folder: a dated set inside it)."""
    target = Path(target)
    if target.is_dir():
        target = target / set_name(datetime.now(UTC))
    tmp = target.with_name(target.name + ".tmp")
    live = sqlite_path(normalize_url(places.database_url)) \
        if backend_of(places.database_url) == "sqlite" else None
    if live is not None and _absolute(target) == _absolute(live):
        raise SetError(f"Набор нельзя записать поверх самой базы: {live}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.TemporaryDirectory(dir=target.parent, prefix=".medsign-backup-")
    except (FileExistsError, NotADirectoryError):
        raise SetError(f"Не удаётся писать копию в {target.parent}: на этом пути файл, "
                       "а не папка") from None
    except OSError as exc:
        raise SetError(f"Не удаётся писать копию в {target.parent}: "
                       f"{exc.strerror or exc}") from None
    with staging as folder:
        try:
            return _write_set(places, target, tmp, Path(folder), progress)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _write_set(places: Places, target: Path, tmp: Path, staging: Path,
               progress: ProgressFactory | None) -> SetInfo:
    db = _db_backup(places.database_url, staging, progress)
    skipped: list[str] = []
    files = _gather(places, skipped)
    db_name = DB_FILES[db.backend]
    db_manifest = db.path.with_name(db.path.name + ".json")
    db_members = [
        (Member(db_name, "database", "", db.size, db.sha256, 0o600), db.path),
        (_member_of(db_name + ".json", "database_manifest", "", db_manifest.read_bytes(),
                    0o600), db_manifest)]
    roots = {role: str(path) for role, path in
             (("key_store", places.key_store), ("key_passwords", places.key_passwords_dir))
             if path is not None}
    manifest = Manifest(format=FORMAT, medsign_version=medsign_version(),
                        created_at=db.created_at, host=socket.gethostname(),
                        backend=db.backend, schema_revision=db.schema_revision, roots=roots,
                        members=tuple(m for m, _ in db_members) + tuple(m for m, _ in files))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, MANIFEST, manifest.to_json(), 0o600, manifest.created_at)
                with _progress(progress, "Запись набора") as step:
                    for member, path in db_members:
                        _add_file(tar, member, path, manifest.created_at, step)
                for member, data in files:
                    _add_bytes(tar, member.name, data, member.mode, manifest.created_at)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        fsync_path(target.parent)
    except OSError as exc:
        raise SetError(f"Не удалось записать набор {target}: {exc.strerror or exc}") from None
    return SetInfo(path=target, size=target.stat().st_size, manifest=manifest,
                   skipped=tuple(skipped))


def _db_backup(url: str, staging: Path, progress: ProgressFactory | None) -> BackupInfo:
    try:
        with _progress(progress, "Копирование базы") as step:
            return create_backup(url, staging / "database", progress=step)
    except BackupError as exc:
        raise SetError(str(exc)) from None


def _progress(factory: ProgressFactory | None,
              label: str) -> AbstractContextManager[ProgressCallback | None]:
    return factory(label) if factory is not None else nullcontext(None)


def _member_of(name: str, role: str, path: str, data: bytes, mode: int) -> Member:
    return Member(name, role, path, len(data), hashlib.sha256(data).hexdigest(), mode)


def _gather(places: Places, skipped: list[str]) -> list[tuple[Member, bytes]]:
    """The small files, read once: what is checksummed is exactly what is archived."""
    found: list[tuple[Member, bytes]] = []
    folders = [("key_store", places.key_store), ("key_passwords", places.key_passwords_dir)]
    for role, root in folders:
        if root is None:
            continue
        if not root.is_dir():
            skipped.append(f"папка {root} ({role}) не найдена — в набор не вошла")
            continue
        for path in _files_under(root, skipped):
            relative = path.relative_to(root).as_posix()
            found.append(_read_member(f"{FOLDER_ROLES[role]}/{relative}", role, path))
    singles: list[tuple[str, str, Path]] = []
    if places.config_file is not None:
        singles.append(("config", f"config/{places.config_file.name}", places.config_file))
    singles += [(role, f"trust/{role}/{path.name}", path) for role, path in places.trust.items()]
    singles += [("crl", f"trust/crl-{n}/{path.name}", path) for n, path in enumerate(places.crls)]
    for role, name, path in singles:
        if not path.is_file():
            skipped.append(f"файл {path} ({role}) не найден — в набор не вошёл")
            continue
        found.append(_read_member(name, role, path))
    return found


def _files_under(root: Path, skipped: list[str]) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{path} — не обычный файл (ссылка?), в набор не вошёл")
                continue
            yield path


def _read_member(name: str, role: str, path: Path) -> tuple[Member, bytes]:
    try:
        data = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise SetError(f"Не удалось прочитать {path}: {exc.strerror or exc}") from None
    return _member_of(name, role, str(path), data, mode), data


def _tarinfo(name: str, size: int, mode: int, when: datetime) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(when.timestamp())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int,
               when: datetime) -> None:
    tar.addfile(_tarinfo(name, len(data), mode, when), io.BytesIO(data))


class _Counting:
    """A file read by tarfile, reporting how far it got."""

    def __init__(self, f: IO[bytes], total: int, step: ProgressCallback | None) -> None:
        self._f, self._total, self._step, self._done = f, total, step, 0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._done += len(data)
        if self._step is not None:
            self._step(self._done, self._total)
        return data


def _add_file(tar: tarfile.TarFile, member: Member, path: Path, when: datetime,
              step: ProgressCallback | None) -> None:
    with path.open("rb") as f:
        tar.addfile(_tarinfo(member.name, member.size, member.mode, when),
                    _Counting(f, member.size, step))



# --- reading a set back -------------------------------------------------------------------


def open_set(path: Path, into: Path) -> Manifest:
    """Check every member of the set against its manifest, extracting the members into the
    folder ``into`` (which must exist and be empty). Raises :class:`SetError` listing every
    problem; nothing outside ``into`` is written."""
    path = Path(path)
    if not path.is_file():
        raise SetError(f"Файл набора не найден: {path}")
    problems: list[str] = []
    seen: dict[str, tuple[int, str]] = {}
    manifest_data: bytes | None = None
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                data = _take(tar, member, into, seen, problems)
                if data is not None:
                    manifest_data = data
    except (tarfile.TarError, EOFError) as exc:
        problems.append(f"архив обрывается или повреждён ({exc}): файл обрезан или испорчен")
    except OSError as exc:
        raise SetError(f"Не удалось прочитать набор {path}: {exc.strerror or exc}") from None
    if manifest_data is None:
        raise SetError(_problems(path, [*problems, f"в наборе нет {MANIFEST}"]))
    manifest = Manifest.from_json(manifest_data)
    problems += _compare(manifest, seen)
    if problems:
        raise SetError(_problems(path, problems))
    return manifest


def _problems(path: Path, problems: list[str]) -> str:
    return (f"Набор {path} не прошёл проверку — использовать его нельзя:\n"
            + "\n".join(f"  • {p}" for p in problems))


def _take(tar: tarfile.TarFile, member: tarfile.TarInfo, into: Path,
          seen: dict[str, tuple[int, str]], problems: list[str]) -> bytes | None:
    """Check one member and extract it; the manifest's bytes are returned instead."""
    try:
        filtered = tarfile.data_filter(member, str(into))
    except tarfile.FilterError as exc:
        problems.append(f"опасный элемент «{member.name}»: {exc}")
        return None
    # The filter makes an absolute name relative instead of refusing it, and lets "a/../b"
    # through: a set's names are plain relative paths, so anything else is refused.
    target = into / member.name
    if filtered.name != member.name or not _plain(member.name) \
            or not os.path.realpath(target).startswith(os.path.realpath(into) + os.sep):
        problems.append(f"опасный элемент «{member.name}»: путь ведёт за пределы набора")
        return None
    if not member.isreg():
        problems.append(f"элемент «{member.name}» — не обычный файл (ссылка, папка или "
                        "устройство); в наборе таких нет")
        return None
    name = member.name
    if name in seen or (name == MANIFEST and MANIFEST in seen):
        problems.append(f"элемент «{name}» встречается дважды")
        return None
    source = tar.extractfile(member)
    if source is None:
        return None
    if name == MANIFEST:
        if member.size > MANIFEST_LIMIT:
            problems.append(f"{MANIFEST} слишком велик ({member.size} байт)")
            return None
        data = source.read()
        seen[name] = (len(data), "")
        return data
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    seen[name] = (size, digest.hexdigest())
    return None


def _plain(name: str) -> bool:
    """A relative path of ordinary parts: no "", ".", ".." and no NUL or backslash."""
    return not any(part in ("", ".", "..") or "\0" in part or "\\" in part
                   for part in name.split("/"))


def _expected_prefix(role: str) -> str:
    if role in FOLDER_ROLES:
        return FOLDER_ROLES[role] + "/"
    if role in ("database", "database_manifest"):
        return "database/"
    if role == "config":
        return "config/"
    if role == "crl":
        return "trust/crl-"
    return f"trust/{role}/"


def _compare(manifest: Manifest, seen: dict[str, tuple[int, str]]) -> list[str]:
    problems = []
    listed = {m.name for m in manifest.members}
    for m in manifest.members:
        known = m.role in (*FOLDER_ROLES, *TRUST_ROLES, "crl", "config", "database",
                           "database_manifest")
        if not known or not m.name.startswith(_expected_prefix(m.role)) or not _plain(m.name):
            problems.append(f"манифест: элемент «{m.name}» с ролью «{m.role}» — такого в "
                            "наборе быть не может")
            continue
        if m.name not in seen:
            problems.append(f"нет элемента «{m.name}» ({m.role}, {m.path or 'база данных'})")
            continue
        size, sha = seen[m.name]
        if size != m.size:
            problems.append(f"элемент «{m.name}»: размер {size} байт, в манифесте {m.size} — "
                            "обрезан или подменён")
        elif sha != m.sha256:
            problems.append(f"элемент «{m.name}»: контрольная сумма не совпадает с манифестом "
                            "— изменён или повреждён")
    problems += [f"лишний элемент «{name}»: его нет в манифесте"
                 for name in sorted(seen) if name != MANIFEST and name not in listed]
    db_names = {m.role for m in manifest.members}
    if "database" not in db_names or "database_manifest" not in db_names:
        problems.append("в манифесте нет базы данных")
    return problems


def database_file(manifest: Manifest, folder: Path) -> Path:
    [member] = manifest.by_role("database")
    return folder / member.name


# --- checking what a set holds --------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_contents(manifest: Manifest, folder: Path, *, server_url: str | None,
                   progress: ProgressFactory | None = None) -> Report:
    """Restore the database into a scratch place and read everything else the set holds.
    ``server_url``: a PostgreSQL server where a scratch database may be created."""
    report = Report()
    _check_database(manifest, folder, server_url, report, progress)
    _check_keys(manifest, folder, report)
    _check_trust(manifest, folder, report)
    _check_config(manifest, folder, report)
    return report


def _check_database(manifest: Manifest, folder: Path, server_url: str | None, report: Report,
                    progress: ProgressFactory | None) -> None:
    source = database_file(manifest, folder)
    try:
        if manifest.backend == "sqlite":
            scratch = folder / "scratch-check.db"
            with _progress(progress, "Пробное восстановление") as step:
                restore_backup(source, f"sqlite:///{scratch}", progress=step)
            engine = create_engine(URL.create("sqlite", database=str(scratch)))
            try:
                _read_database(engine, manifest, report, integrity=True)
            finally:
                engine.dispose()
        else:
            if server_url is None or not server_url.startswith(("postgresql", "postgres")):
                report.problems.append(
                    "база в наборе — PostgreSQL, а сервера PostgreSQL для пробного "
                    "восстановления нет: укажите --scratch-url postgresql://…")
                return
            with scratch_pg_database(server_url) as url:
                with _progress(progress, "Пробное восстановление") as step:
                    restore_backup(source, url, progress=step)
                engine = create_engine(normalize_url(url), poolclass=NullPool)
                try:
                    _read_database(engine, manifest, report, integrity=False)
                finally:
                    engine.dispose()
    except (BackupError, SetError) as exc:
        report.problems.append(f"база данных: {exc}")
    except SQLAlchemyError as exc:
        report.problems.append(f"база данных не читается: {exc}")


def _read_database(engine: Engine, manifest: Manifest, report: Report, *,
                   integrity: bool) -> None:
    revision = current_revision(engine)
    if revision != manifest.schema_revision:
        report.problems.append(f"база данных: схема {revision}, а в манифесте "
                               f"{manifest.schema_revision}")
    with engine.connect() as conn:
        if integrity:
            verdict = [row[0] for row in conn.execute(text("PRAGMA integrity_check"))]
            if verdict != ["ok"]:
                report.problems.append("база данных: PRAGMA integrity_check — "
                                       + "; ".join(str(v) for v in verdict[:5]))
        counts = table_counts(conn, COUNTED)
    said = ", ".join(f"{label}: {counts.get(table, 0)}" for table, label in COUNTED.items())
    name = "SQLite" if manifest.backend == "sqlite" else "PostgreSQL"
    report.lines.append(f"База данных ({name}, схема {revision}) восстанавливается и читается; "
                        f"{said}.")


def table_counts(conn: Connection, tables: dict[str, str] | None = None) -> dict[str, int]:
    """Rows per table (``tables``: those only; otherwise every table but bookkeeping)."""
    present = set(inspect(conn).get_table_names())
    wanted = [t for t in (tables or sorted(present - NOT_DATA)) if t in present]
    # Table names come from the database's own catalogue (or our constants), quoted.
    return {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in wanted}


@contextmanager
def scratch_pg_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, always dropped afterwards."""
    url = make_url(normalize_url(server_url))
    name = f"medsign_verify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            where = url.render_as_string(hide_password=True)
            raise SetError(f"не удалось создать пробную базу на сервере {where}: "
                           f"{_first_line(exc)}. Нужен сервер, где этому пользователю можно "
                           "CREATE DATABASE: укажите его в --scratch-url") from None
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(exc).__name__


def _check_keys(manifest: Manifest, folder: Path, report: Report) -> None:
    members = manifest.by_role("key_store")
    if not members:
        report.lines.append("Хранилище ключей МО: пусто или не входит в набор.")
        return
    names = {m.name for m in members}
    checked = notes = 0
    for m in members:
        path = folder / m.name
        base = path.name
        try:
            if base in (CERTIFICATE_FILE, DEV_CA_FILE):
                key = path.with_name(KEY_FILE if base == CERTIFICATE_FILE else "dev-ca.key")
                if str(key.relative_to(folder).as_posix()) in names:
                    load_pem(key, path)  # the key must belong to the certificate
                else:
                    TrustStore.from_file(path)
                checked += 1
            elif base == CONTAINER_FILE:
                notes += 1  # readable only with its password: not checked here
        except (CryptoError, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, CryptoError) else str(exc)
            report.problems.append(f"ключи: «{m.name}» ({m.path}): {message}")
    line = f"Хранилище ключей МО: файлов {len(members)}, сертификатов проверено {checked}"
    if notes:
        line += f", контейнеров PKCS#12 без проверки (нужен пароль): {notes}"
    report.lines.append(line + ".")


def _check_trust(manifest: Manifest, folder: Path, report: Report) -> None:
    for m in manifest.members:
        if m.role not in TRUST_ROLES and m.role != "crl":
            continue
        data = (folder / m.name).read_bytes()
        try:
            if m.role == "crl":
                parse_crl(data)
            elif m.role in ("trust_store", "mo_trust_store"):
                TrustStore.from_file(folder / m.name)
            else:
                _ca_bundle(data)
        except (CryptoError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, CryptoError) else str(exc)
            report.problems.append(f"{m.role} ({m.path}) не читается: {message}")
            continue
        report.lines.append(f"{TRUST_ROLES.get(m.role, 'signing.crls')} ({m.path}): читается.")


def _ca_bundle(data: bytes) -> None:
    """Every certificate of a TLS CA bundle parses (any algorithm: these are TLS CAs)."""
    blocks = [der for kind, _, der in asn1_pem.unarmor(data, multiple=True)
              if kind in ("CERTIFICATE", "TRUSTED CERTIFICATE")] if asn1_pem.detect(data) \
        else [data]
    if not blocks:
        raise ValueError("в файле нет сертификатов")
    for der in blocks:
        tbs = asn1_x509.Certificate.load(der, strict=True)["tbs_certificate"]
        # every field but the key: a GOST root (Минцифры issues one) has a key asn1crypto
        # cannot parse, and a bundle may hold it beside the RSA ones
        for name in ("serial_number", "issuer", "validity", "subject", "extensions"):
            tbs[name].native  # noqa: B018 - parses the field


def _check_config(manifest: Manifest, folder: Path, report: Report) -> None:
    [*configs] = manifest.by_role("config")
    if not configs:
        report.lines.append("Файл настроек в набор не входит (настройки были встроенные или "
                            "из переменных окружения).")
        return
    path = folder / configs[0].name
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        report.problems += [f"файл настроек {configs[0].path}: {p}" for p in exc.problems]
        return
    report.lines.append(f"Файл настроек ({configs[0].path}) загружается.")


def backend_of(db_url: str) -> str:
    """``sqlite`` or ``postgresql`` (or whatever else the URL names)."""
    try:
        return make_url(normalize_url(db_url)).get_backend_name()
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError or others
        return db_url.split(":", 1)[0]


# --- the target of a restore --------------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    processes: list[ProcessRecord]
    counts: dict[str, int]  # tables holding rows
    latest: datetime | None  # the last audit entry


def target_state(db_url: str) -> TargetState:
    """What the database a restore would overwrite holds now (nothing is created)."""
    url = normalize_url(db_url)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return TargetState([], {}, None)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = processes(conn)
            counts = {t: n for t, n in table_counts(conn).items() if n}
            latest = None
            if "audit_log" in counts:
                value = conn.execute(text("SELECT max(at) FROM audit_log")).scalar_one()
                latest = value if isinstance(value, datetime) else None
        return TargetState(rows, counts, latest)
    except SQLAlchemyError as exc:
        raise SetError(f"Не удалось прочитать базу, в которую восстанавливать "
                       f"({make_url(url).render_as_string(hide_password=True)}): "
                       f"{_first_line(exc)}") from None
    finally:
        engine.dispose()


def restore_database(manifest: Manifest, folder: Path, db_url: str, *,
                     progress: ProgressFactory | None = None) -> None:
    """The set's database into ``db_url``, then without the restored process rows."""
    try:
        with _progress(progress, "Восстановление базы") as step:
            restore_backup(database_file(manifest, folder), db_url, progress=step)
    except BackupError as exc:
        raise SetError(str(exc)) from None
    url = normalize_url(db_url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            forget_all(conn)
    except SQLAlchemyError as exc:
        raise SetError(f"База восстановлена, но отметки процессов не удалены: "
                       f"{_first_line(exc)}") from None
    finally:
        engine.dispose()


def restore_files(manifest: Manifest, folder: Path, places: Places, *,
                  stamp: datetime) -> list[str]:
    """Key store, passwords folder and trust files into the currently configured places.
    What they would replace is moved aside to ``<path>.before-restore-<stamp>``, never
    deleted. Returns what was done, one Russian line each."""
    done: list[str] = []
    suffix = f".before-restore-{stamp.astimezone(UTC).strftime(SET_STAMP)}"
    for role, prefix in FOLDER_ROLES.items():
        members = manifest.by_role(role)
        if not members:
            continue
        target = places.key_store if role == "key_store" else places.key_passwords_dir
        if target is None:
            done.append(f"{role}: в наборе есть файлы ({len(members)}), но "
                        "signing.key_passwords_dir не задан — не восстановлены")
            continue
        done.append(_restore_folder(members, folder, prefix, target, suffix))
    for role in (*TRUST_ROLES, "crl"):
        members = manifest.by_role(role)
        targets = list(places.crls) if role == "crl" else \
            [path for path in (places.trust.get(role),) if path is not None]
        for n, m in enumerate(members):  # the n-th CRL file goes where the n-th is now
            done.append(_restore_file(m, folder, targets[n] if n < len(targets) else None,
                                      suffix))
    return done


def _restore_folder(members: list[Member], folder: Path, prefix: str, target: Path,
                    suffix: str) -> str:
    moved = ""
    try:
        if _same_folder(members, folder, prefix, target):
            return f"{target}: уже совпадает с копией"
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            aside = target.with_name(target.name + suffix)
            os.rename(target, aside)
            moved = f" (прежнее содержимое — в {aside})"
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(target, 0o700)
        for m in members:
            relative = m.name[len(prefix) + 1:]
            destination = target / relative
            _mkdirs_private(target, destination.parent)
            _copy_private(folder / m.name, destination, m.mode)
    except OSError as exc:
        raise SetError(f"Не удалось восстановить {target}: {exc.strerror or exc}") from None
    return f"{target}: файлов {len(members)}{moved}"


def _same_folder(members: list[Member], folder: Path, prefix: str, target: Path) -> bool:
    if not target.is_dir():
        return False
    present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    wanted = {m.name[len(prefix) + 1:]: m for m in members}
    return present == set(wanted) and all(
        (target / relative).read_bytes() == (folder / m.name).read_bytes()
        for relative, m in wanted.items())


def place_missing(manifest: Manifest, folder: Path) -> list[str]:
    """Put the set's trust files and folders back at their original paths where nothing is
    there now (a new machine): the set's configuration file names them and loads only when
    they exist. Nothing present is touched. Returns what was placed."""
    placed: list[str] = []
    named = _paths_named(config_member(manifest, folder))
    try:
        for m in manifest.members:
            if (m.role in TRUST_ROLES or m.role == "crl") and m.path in named \
                    and not Path(m.path).exists():
                Path(m.path).parent.mkdir(parents=True, exist_ok=True)
                _copy_private(folder / m.name, Path(m.path), m.mode | 0o600)
                placed.append(m.path)
        for role, prefix in FOLDER_ROLES.items():
            root = manifest.roots.get(role)
            members = manifest.by_role(role)
            if root and root in named and members and not Path(root).exists():
                placed.append(_restore_folder(members, folder, prefix, Path(root), ""))
    except OSError as exc:
        raise SetError(f"Не удалось разместить файлы набора: {exc.strerror or exc}") from None
    return placed


def _paths_named(config: Path | None) -> set[str]:
    """Every string value of the configuration file, as the absolute path it would name:
    only such places are written on a new machine (a manifest's paths alone are not
    trusted to say where to write)."""
    if config is None:
        return set()
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value and "://" not in value \
                and ".." not in Path(value).parts:
            found.add(os.path.abspath(Path(value).expanduser()))
    walk(raw)
    return found


def _mkdirs_private(root: Path, folder: Path) -> None:
    missing = []
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)


def _copy_private(source: Path, destination: Path, mode: int) -> None:
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, CHUNK)
        os.fchmod(out.fileno(), mode & 0o700)  # never wider than the owner's
        out.flush()
        os.fsync(out.fileno())


def _restore_file(member: Member, folder: Path, target: Path | None, suffix: str) -> str:
    source = folder / member.name
    if target is None:
        return (f"{member.role} ({member.path}): в текущих настройках не задан — "
                "не восстановлен")
    try:
        if target.exists():
            if target.is_file() and target.read_bytes() == source.read_bytes():
                return f"{target}: уже совпадает с копией"
            aside = target.with_name(target.name + suffix)
            os.rename(target, aside)
            moved = f" (прежний — в {aside})"
        else:
            moved = ""
            target.parent.mkdir(parents=True, exist_ok=True)
        _copy_private(source, target, member.mode | 0o600)
    except OSError as exc:
        raise SetError(f"Не удалось восстановить {target}: {exc.strerror or exc}") from None
    return f"{target}{moved}"


def restore_config(manifest: Manifest, folder: Path, current: Path) -> tuple[Path, str] | None:
    """The set's configuration file at ``current`` when nothing is there (0600), else beside
    it as ``<name>.from-backup`` when it differs. Returns (where written, what to tell) or
    None when the set has no configuration file or it equals the current one."""
    source = config_member(manifest, folder)
    if source is None:
        return None
    try:
        if not current.exists():
            current.parent.mkdir(parents=True, exist_ok=True)
            _copy_private(source, current, 0o600)
            return current, f"файл настроек записан: {current}"
        if current.read_bytes() == source.read_bytes():
            return None
        beside = current.with_name(current.name + ".from-backup")
        beside.unlink(missing_ok=True)
        _copy_private(source, beside, 0o600)
    except OSError as exc:
        raise SetError(f"Не удалось записать файл настроек рядом с {current}: "
                       f"{exc.strerror or exc}") from None
    return beside, (f"текущий файл настроек {current} отличается от сохранённого в наборе: "
                    f"копия из набора записана в {beside}, сравните и перенесите нужное")


def config_member(manifest: Manifest, folder: Path) -> Path | None:
    configs = manifest.by_role("config")
    return folder / configs[0].name if configs else None


# --- retention ------------------------------------------------------------------------------


def set_created_at(path: Path) -> datetime | None:
    """The snapshot time of a set (from its manifest, read without extracting anything);
    None when ``path`` is not a readable set of this format."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isreg() \
                    or first.size > MANIFEST_LIMIT:
                return None
            source = tar.extractfile(first)
            if source is None:
                return None
            return Manifest.from_json(source.read()).created_at
    except (tarfile.TarError, OSError, EOFError, SetError):
        return None

