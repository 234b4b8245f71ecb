"""Backup sets made and read back through the real database, files and tar archives: a set
restores what it holds, and a set that was changed, cut or made hostile is refused with every
problem named before anything is written outside the scratch folder."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from medsign.db.engine import make_engine
from medsign.db.models.operations import ServiceProcessRow
from medsign.operations.backup_set import (
    MANIFEST,
    Places,
    SetError,
    check_contents,
    create_set,
    open_set,
    restore_database,
    restore_files,
    set_created_at,
    target_state,
)
from medsign.operations.presence import ProcessPresence
from medsign.signing.signers import development_keys
from tests import factories
from tests.dbs import admin_pg_url, scratch_pg_database

Rewrite = Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[tuple[tarfile.TarInfo, bytes]]]


def keys(folder: Path) -> Path:
    development_keys(folder, code="mo1", name="ГБУЗ Тест", ogrn="1027700132195",
                     inn="7707083893")
    return folder


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def places(db_url: str, engine: Engine, tmp_path: Path) -> Places:
    factories.token(engine, "mis")
    store = keys(tmp_path / "live" / "keys")
    ca = tmp_path / "live" / "mo-ca.pem"
    ca.write_bytes((store / "dev-ca.pem").read_bytes())
    config = tmp_path / "live" / "medsign.toml"
    config.write_text(f'[signing]\nkey_store = "{store}"\nmo_trust_store = "{ca}"\n',
                      encoding="utf-8")
    return Places(database_url=db_url, key_store=store, config_file=config,
                  trust={"mo_trust_store": ca})


@pytest.fixture
def made(places: Places, tmp_path: Path) -> Path:
    return create_set(places, tmp_path / "sets" / "set.tar").path


def rewrite(source: Path, target: Path, change: Rewrite) -> Path:
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as out:
        for info, data in change(members):
            out.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return target


def problems_of(path: Path, into: Path) -> str:
    into.mkdir()
    with pytest.raises(SetError) as caught:
        open_set(path, into)
    return str(caught.value)


def test_a_set_holds_what_it_says_and_restores_into_new_places(
        places: Places, made: Path, engine: Engine, tmp_path: Path, backend: str) -> None:
    assert made.stat().st_mode & 0o777 == 0o600
    assert not list(made.parent.glob("*.tmp")) and not list(made.parent.glob(".medsign-*"))
    folder = tmp_path / "opened"
    folder.mkdir()
    manifest = open_set(made, folder)
    roles = {m.name: m.role for m in manifest.members}
    assert roles["keys/mo1/dev/key.pem"] == "key_store"
    assert roles["config/medsign.toml"] == "config"
    assert roles["trust/mo_trust_store/mo-ca.pem"] == "mo_trust_store"
    assert manifest.backend == backend and manifest.schema_revision
    assert set_created_at(made) == manifest.created_at
    by_name = {m.name: m for m in manifest.members}
    assert by_name["keys/mo1/dev/key.pem"].path == str(places.key_store / "mo1/dev/key.pem")

    report = check_contents(manifest, folder, server_url=places.database_url)
    assert report.problems == []
    assert any("сертификатов проверено 2" in line for line in report.lines)

    # destroy: new places, a new database
    new = tmp_path / "new"
    with _new_database(backend, new) as url:
        elsewhere = Places(database_url=url, key_store=new / "keys",
                           trust={"mo_trust_store": new / "ca.pem"})
        restore_database(manifest, folder, url)
        done = restore_files(manifest, folder, elsewhere, stamp=datetime.now(UTC))
        assert files(new / "keys") == files(places.key_store)
        assert (new / "ca.pem").read_bytes() == places.trust["mo_trust_store"].read_bytes()
        assert len(done) == 2
        restored = create_engine(url)
        try:
            with restored.connect() as conn:
                names = conn.execute(text("SELECT name FROM api_clients")).scalars().all()
        finally:
            restored.dispose()
        assert names == ["mis"]


class _new_database:  # noqa: N801 - used as a context manager
    def __init__(self, backend: str, folder: Path) -> None:
        self.backend, self.folder = backend, folder
        self._pg = scratch_pg_database("medsign_restored") if backend == "postgresql" else None

    def __enter__(self) -> str:
        if self._pg is not None:
            return self._pg.__enter__()
        self.folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.folder / 'restored.db'}"

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            self._pg.__exit__(None, None, None)


def test_restoring_over_a_key_store_moves_the_old_one_aside(
        made: Path, places: Places, tmp_path: Path) -> None:
    folder = tmp_path / "opened"
    folder.mkdir()
    manifest = open_set(made, folder)
    target = tmp_path / "current-keys"
    keys(target)  # a different store: another CA, another key
    before = files(target)
    stamp = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    restore_files(manifest, folder, Places(database_url="", key_store=target), stamp=stamp)
    assert files(target) == files(places.key_store)
    assert files(tmp_path / "current-keys.before-restore-20261206T120000Z") == before


def test_changed_missing_and_extra_members_are_each_named(made: Path, tmp_path: Path) -> None:
    def change(members: list[tuple[tarfile.TarInfo, bytes]]
               ) -> list[tuple[tarfile.TarInfo, bytes]]:
        out = []
        for info, data in members:
            if info.name == "keys/mo1/dev/certificate.pem":
                data = data.replace(b"A", b"B", 1)  # same size, other bytes
            if info.name == "trust/mo_trust_store/mo-ca.pem":
                continue
            out.append((info, data))
        extra = tarfile.TarInfo("keys/mo1/dev/planted.pem")
        extra.size = 3
        return [*out, (extra, b"abc")]
    bad = rewrite(made, tmp_path / "bad.tar", change)
    said = problems_of(bad, tmp_path / "x")
    assert "«keys/mo1/dev/certificate.pem»: контрольная сумма не совпадает" in said
    assert "нет элемента «trust/mo_trust_store/mo-ca.pem»" in said
    assert "лишний элемент «keys/mo1/dev/planted.pem»" in said


@pytest.mark.parametrize("name", ["../escaped.pem", "/tmp/absolute-escape.pem",
                                  "keys/../../escaped.pem"])
def test_a_member_outside_the_folder_is_refused_and_not_written(
        made: Path, tmp_path: Path, name: str) -> None:
    def change(members: list[tuple[tarfile.TarInfo, bytes]]
               ) -> list[tuple[tarfile.TarInfo, bytes]]:
        evil = tarfile.TarInfo(name)
        evil.size = 4
        return [*members, (evil, b"evil")]
    bad = rewrite(made, tmp_path / "bad.tar", change)
    said = problems_of(bad, tmp_path / "into")
    assert f"опасный элемент «{name}»" in said
    assert not (tmp_path / "escaped.pem").exists()
    assert not Path("/tmp/absolute-escape.pem").exists()


def test_links_are_refused(made: Path, tmp_path: Path) -> None:
    def change(members: list[tuple[tarfile.TarInfo, bytes]]
               ) -> list[tuple[tarfile.TarInfo, bytes]]:
        link = tarfile.TarInfo("keys/inside-link")
        link.type, link.linkname = tarfile.SYMTYPE, "mo1/dev/key.pem"
        return [*members, (link, b"")]
    said = problems_of(rewrite(made, tmp_path / "bad.tar", change), tmp_path / "into")
    assert "«keys/inside-link» — не обычный файл" in said


def test_a_truncated_set_is_refused(made: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar"
    cut.write_bytes(made.read_bytes()[: made.stat().st_size // 2])
    said = problems_of(cut, tmp_path / "into")
    assert "обрывается" in said or "обрезан" in said
    assert "Traceback" not in said


def test_a_file_that_is_no_set_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    assert "Набор" in problems_of(junk, tmp_path / "into")
    assert set_created_at(junk) is None


def test_a_key_that_does_not_belong_to_its_certificate_is_reported(
        places: Places, tmp_path: Path) -> None:
    other = keys(tmp_path / "other")
    (places.key_store / "mo1/dev/key.pem").write_bytes((other / "mo1/dev/key.pem").read_bytes())
    made = create_set(places, tmp_path / "sets" / "set.tar").path
    folder = tmp_path / "opened"
    folder.mkdir()
    report = check_contents(open_set(made, folder), folder, server_url=places.database_url)
    assert any("keys/mo1/dev/certificate.pem" in p and "не соответствует" in p
               for p in report.problems), report.problems


def test_the_manifest_must_not_lie_about_itself(made: Path, tmp_path: Path) -> None:
    def change(members: list[tuple[tarfile.TarInfo, bytes]]
               ) -> list[tuple[tarfile.TarInfo, bytes]]:
        out = []
        for info, data in members:
            if info.name == MANIFEST:
                raw = json.loads(data)
                raw["members"] = raw["members"][:-1]  # drop the last entry
                data = json.dumps(raw).encode()
                info.size = len(data)
            out.append((info, data))
        return out
    said = problems_of(rewrite(made, tmp_path / "bad.tar", change), tmp_path / "into")
    assert "лишний элемент" in said


def test_the_target_state_sees_data_and_live_processes(engine: Engine, db_url: str) -> None:
    assert target_state(db_url).processes == []
    factories.token(engine, "mis")
    with ProcessPresence(engine, "worker", interval_s=0.05) as presence:
        state = target_state(db_url)
        assert [(p.kind, p.pid) for p in state.processes] == [("worker", presence.pid)]
        assert state.counts["api_clients"] == 1
    assert target_state(db_url).processes == []


def test_a_missing_sqlite_target_is_an_empty_one_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing.db"
    state = target_state(f"sqlite:///{path}")
    assert (state.processes, state.counts) == ([], {})
    assert not path.exists()


def test_a_failed_heartbeat_is_logged_and_retried_until_the_database_answers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medsign.db'}")  # no tables yet: beats fail
    presence = ProcessPresence(engine, "worker", interval_s=0.02)
    try:
        presence.start()  # logged, not raised
        assert "Не удалось обновить отметку процесса" in caplog.text
        ServiceProcessRow.__table__.create(engine)  # the database is back
        deadline = time.monotonic() + 30
        while not target_state(str(engine.url)).processes and time.monotonic() < deadline:
            time.sleep(0.02)
        [row] = target_state(str(engine.url)).processes
        assert (row.kind, row.pid) == ("worker", os.getpid())
    finally:
        presence.stop()
        engine.dispose()
    assert target_state(f"sqlite:///{tmp_path / 'medsign.db'}").processes == []


def test_verify_of_a_postgresql_set_drops_its_scratch_database(
        places: Places, made: Path, tmp_path: Path, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the scratch database is PostgreSQL's")
    folder = tmp_path / "opened"
    folder.mkdir()
    manifest = open_set(made, folder)
    report = check_contents(manifest, folder, server_url=places.database_url)
    assert report.problems == []
    admin = create_engine(admin_pg_url())
    try:
        with admin.connect() as conn:
            left = conn.execute(text("SELECT datname FROM pg_database "
                                     "WHERE datname LIKE 'medsign_verify_%'")).all()
    finally:
        admin.dispose()
    assert left == []


def test_verify_without_the_right_to_create_a_database_says_what_to_do(
        places: Places, made: Path, tmp_path: Path, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the scratch database is PostgreSQL's")
    admin = create_engine(admin_pg_url(), isolation_level="AUTOCOMMIT")
    role = f"medsign_nocreate_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
        folder = tmp_path / "opened"
        folder.mkdir()
        url = make_url(admin_pg_url()).set(username=role).render_as_string(hide_password=False)
        report = check_contents(open_set(made, folder), folder, server_url=url)
        [problem] = report.problems
        assert "не удалось создать пробную базу" in problem and "--scratch-url" in problem
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_a_name_that_climbs_back_inside_is_refused_too(made: Path, tmp_path: Path) -> None:
    # "keys/../x" stays inside the scratch folder, but restored under the key store it
    # would land beside it
    def change(members: list[tuple[tarfile.TarInfo, bytes]]
               ) -> list[tuple[tarfile.TarInfo, bytes]]:
        out = []
        for info, data in members:
            if info.name == MANIFEST:
                raw = json.loads(data)
                raw["members"].append({"name": "keys/../beside.pem", "role": "key_store",
                                       "path": "/x", "size": 4, "sha256": "0" * 64,
                                       "mode": "0600"})
                data = json.dumps(raw).encode()
                info.size = len(data)
            out.append((info, data))
        climb = tarfile.TarInfo("keys/../beside.pem")
        climb.size = 4
        return [*out, (climb, b"evil")]
    said = problems_of(rewrite(made, tmp_path / "bad.tar", change), tmp_path / "into")
    assert "опасный элемент «keys/../beside.pem»" in said
    assert "такого в наборе быть не может" in said


def test_a_ca_bundle_with_a_gost_root_reads_and_a_broken_one_does_not() -> None:
    """A TLS bundle may hold Минцифры's GOST root beside the RSA ones: asn1crypto cannot
    parse its key, so the check reads every other field (it once raised KeyError)."""
    from asn1crypto import pem

    from medsign.crypto import make_ca
    from medsign.operations.backup_set import _ca_bundle
    gost_root = make_ca("Тестовый УЦ ГОСТ", organization="Тестовый УЦ ГОСТ")
    _ca_bundle(pem.armor("CERTIFICATE", gost_root.certificate_der))
    with pytest.raises(ValueError):
        _ca_bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
