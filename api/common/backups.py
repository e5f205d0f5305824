"""Backups of the whole installation, taken while the app runs, and their restore.

A backup is one file, ``confiotes-YYYYMMDD-HHMMSS.tar.gz`` (business time, Africa/Douala), holding:

- ``manifest.json``: the format, when it was taken, the kind of database, the applied migrations and a
  fingerprint of ``SECRET_KEY`` (an HMAC of a fixed text: it does not reveal the key);
- ``database.sqlite3`` (SQLite's online backup API: a consistent snapshot even while web, worker and
  beat write, because one backup step reads the whole file inside one read transaction) or
  ``database.pgdump`` (``pg_dump --format=custom``: one repeatable-read snapshot);
- ``data/secret_key`` when the key in use is the one generated into the data folder. It must travel
  with the database: erased persons' identities are kept as HMACs keyed with ``SECRET_KEY``
  (``api/contacts``), so a database restored under another key would let them be imported again.

Stored import files (the CSV of each contact import) are rows (``ImportJob.data``), so the database
copy carries them; nothing else in the data folder is needed to restart (cache, broker kicks, rate
limiter state and static files are rebuilt or refilled). A backup therefore holds every customer's
personal data: it is written ``0600`` in a ``0700`` folder, and must be copied off the machine
encrypted.

Secrets are never printed: PostgreSQL's password goes to ``pg_dump``/``pg_restore`` in ``PGPASSWORD``,
not on their command line, and their error output is scrubbed before it is shown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from api.common.businesstime import business_localtime, business_tz
from api.common.errors import ApplicationError

FORMAT = "confiotes-backup"
FORMAT_VERSION = 1
NAME_PREFIX = "confiotes-"
NAME_SUFFIX = ".tar.gz"
_NAME = re.compile(r"^confiotes-(\d{8})-(\d{6})\.tar\.gz$")
# Leftovers of a backup killed mid-way (a worker lost during a run); removed once surely abandoned.
_PARTIAL_SUFFIX = ".partial"
_STAGING_PREFIX = ".backup-staging-"
_LEFTOVER_AGE_SECONDS = 24 * 3600
# Members of the archive: a restore reads these names only, so a crafted archive cannot write elsewhere.
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
DATA_KEY_MEMBER = "data/secret_key"
DATA_KEY_FILE = "secret_key"
# gzip level 6: on the demo data's 8.5 MB SQLite file (2026-12-03, loaded machine) 1.95 MB in 0.21 s, against
# 1.93 MB in 0.44 s at level 9 and 2.21 MB in 0.08 s at level 1.
GZIP_LEVEL = 6
# Tables that say nothing about the business: Django's bookkeeping that ``migrate`` fills, sessions,
# and the heartbeat a worker writes as soon as it starts. Any other row means "holds data".
BOOKKEEPING_TABLES = frozenset({
    "django_migrations", "django_content_type", "auth_permission", "django_session", "common_workerheartbeat",
})
# libpq reads these from the environment; Django's OPTIONS may set them for the app's own connections.
_LIBPQ_OPTION_ENV = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupError(ApplicationError):
    """A backup or a restore could not be made; the message says why and what to do."""

    default_code = "backup_failed"


@dataclass(frozen=True)
class BackupResult:
    """A backup written to ``path`` (``size_bytes``), and the older copies that rotation deleted."""

    path: Path
    size_bytes: int
    engine: str
    deleted: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore brought back, where, and what the operator should still do (``warnings``)."""

    archive: Path
    taken_at: datetime
    engine: str
    database: str
    files: list[str]
    safety_copy: Path | None
    warnings: list[str]


def backups_dir_default() -> Path:
    """The folder of the daily backups: ``backups/`` in the data folder (``CONFIOTES_DATA_DIR``)."""
    return Path(settings.DATA_DIR) / "backups"


def backup_create(*, dest: Path | None = None, keep_daily: int | None = None,
                  now: datetime | None = None) -> BackupResult:
    """Write one backup of the database and the data folder's key into ``dest``, then rotate ``dest``.

    Safe while the app runs (each engine's own consistent snapshot) and safe to run twice: a second
    run the same day adds a newer copy, and rotation keeps the newest of each day. The archive is
    written under a temporary name and renamed when complete, so a killed run never leaves a file that
    looks like a backup. ``keep_daily`` defaults to ``BACKUP_KEEP_DAILY``; 0 keeps every copy.
    """
    folder = Path(dest) if dest is not None else backups_dir_default()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken_at = now or timezone.now()
    name = business_localtime(taken_at).strftime(f"{NAME_PREFIX}%Y%m%d-%H%M%S{NAME_SUFFIX}")
    engine = _engine()
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=folder))
    partial = folder / f".{name}.{os.getpid()}{_PARTIAL_SUFFIX}"
    try:
        members: list[tuple[Path, str]] = []
        if engine == "sqlite":
            _sqlite_copy(source=_sqlite_path(), target=staging / SQLITE_MEMBER)
            members.append((staging / SQLITE_MEMBER, SQLITE_MEMBER))
        else:
            _pg_dump(target=staging / PG_MEMBER)
            members.append((staging / PG_MEMBER, PG_MEMBER))
        files: list[str] = []
        key_file = _embedded_secret_key_file()
        if key_file is not None:
            members.append((key_file, DATA_KEY_MEMBER))
            files.append(DATA_KEY_MEMBER)
        manifest = {
            "format": FORMAT, "version": FORMAT_VERSION, "taken_at": taken_at.isoformat(), "engine": engine,
            "database": _database_label(), "files": files, "secret_key_fingerprint": _secret_key_fingerprint(),
            "migrations": sorted(f"{app}.{migration}" for app, migration in _applied_migrations()),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        _archive_write(partial, [(staging / MANIFEST, MANIFEST), *members])
        final = folder / name
        os.replace(partial, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        partial.unlink(missing_ok=True)
    keep = settings.BACKUP_KEEP_DAILY if keep_daily is None else keep_daily
    deleted = backups_rotate(folder=folder, keep_daily=keep)
    return BackupResult(path=final, size_bytes=final.stat().st_size, engine=engine, deleted=deleted)


def backups_list(folder: Path) -> list[tuple[datetime, Path]]:
    """The backups in ``folder``, newest first, with when each was taken (read from its name, business time).

    Only files named like a backup count; anything else in the folder is left alone.
    """
    found: list[tuple[datetime, Path]] = []
    if not Path(folder).is_dir():
        return found
    for path in Path(folder).iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            try:
                taken = datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S").replace(tzinfo=business_tz())
            except ValueError:  # e.g. confiotes-20261399-…: not one of ours
                continue
            found.append((taken, path))
    return sorted(found, key=lambda item: (item[0], item[1].name), reverse=True)


def backups_rotate(*, folder: Path, keep_daily: int) -> list[Path]:
    """Keep the newest backup of each of the ``keep_daily`` most recent days that have one; delete the rest.

    Counted over days that *have* a backup, not calendar days back from today: when backups stopped
    for a while, the next run never deletes the last good copies. ``keep_daily`` < 1 deletes nothing.
    Also removes leftovers of runs killed more than a day ago. Returns the deleted backups, oldest last.
    """
    _leftovers_remove(Path(folder))
    if keep_daily < 1:
        return []
    kept_days: set[date] = set()
    deleted: list[Path] = []
    for taken, path in backups_list(folder):
        day = taken.date()
        if day not in kept_days and len(kept_days) < keep_daily:
            kept_days.add(day)
            continue
        path.unlink(missing_ok=True)
        deleted.append(path)
    return deleted


def backup_resolve(name_or_path: str) -> Path:
    """The archive named by the operator: a path, or the name of a file in the default backups folder."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    in_default = backups_dir_default() / name_or_path
    if in_default.is_file():
        return in_default
    raise BackupError(f"No backup at {name_or_path} (nor in {backups_dir_default()}).", code="not_found",
                      status_code=404)


def database_tables_with_rows() -> list[str]:
    """The tables of the configured database that hold at least one row, Django's bookkeeping left out.

    Reads every table the database has (whatever app owns it) with ``SELECT 1 … LIMIT 1``: cheap, and it
    names no table of another app.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    found: list[str] = []
    with connection.cursor() as cursor:
        for table in sorted(set(connection.introspection.table_names(cursor)) - BOOKKEEPING_TABLES):
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608 - introspected names
            if cursor.fetchone() is not None:
                found.append(table)
    return found


def backup_restore(*, archive: Path, force: bool = False, safety_copy: bool = True) -> RestoreResult:
    """Bring the backup ``archive`` back into the configured database and data folder.

    - Refuses (409) a database that already holds data unless ``force``; with ``force`` and
      ``safety_copy``, the current database is first backed up into the default backups folder.
    - SQLite: the copy is written with the online backup API (atomic: a failure leaves the target as
      it was). PostgreSQL: ``pg_restore --clean --if-exists --no-owner --no-acl --single-transaction``
      (one transaction: all or nothing; owner and grants are those of the configured user, so a dump
      restores on another server).
    - Puts back the data folder's generated ``SECRET_KEY`` when the key in use is that file; warns when
      the key in use differs from the backup's (erased identities would no longer be recognised).
    - The app should be stopped meanwhile; after it, ``manage.py migrate`` brings an older backup up
      to the code (the warnings say when).
    """
    archive = Path(archive)
    engine = _engine()
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=Path(settings.DATA_DIR)) as scratch:
        manifest, extracted = _archive_read(archive, Path(scratch))
        if manifest["engine"] != engine:
            raise BackupError(
                f"This backup is of a {_ENGINE_NAMES.get(manifest['engine'], manifest['engine'])} database and the "
                f"configured database is {_ENGINE_NAMES[engine]}: restore it into the same kind of database.",
                code="engine_mismatch", status_code=409)
        filled = database_tables_with_rows()
        copy: Path | None = None
        if filled:
            if not force:
                raise BackupError(
                    f"The database {_database_label()} already holds data ({', '.join(filled[:5])}"
                    f"{'…' if len(filled) > 5 else ''}); restoring would replace it. Stop the app, take a "
                    "backup, and run the restore again with --force.", code="database_not_empty", status_code=409)
            if safety_copy:
                copy = backup_create(keep_daily=0).path
        connections[DEFAULT_DB_ALIAS].close()
        if engine == "sqlite":
            _sqlite_copy(source=extracted[SQLITE_MEMBER], target=_sqlite_path())
        else:
            _pg_restore(source=extracted[PG_MEMBER])
        connections[DEFAULT_DB_ALIAS].close()
        warnings = _secret_key_restore(manifest, extracted.get(DATA_KEY_MEMBER))
    warnings += _migration_warnings()
    files = [name for name in (DATA_KEY_MEMBER,) if name in extracted]
    return RestoreResult(archive=archive, taken_at=datetime.fromisoformat(manifest["taken_at"]), engine=engine,
                         database=_database_label(), files=files, safety_copy=copy, warnings=warnings)


# --- The database, by engine -----------------------------------------------------------------

_ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _engine() -> str:
    """``sqlite`` or ``postgresql``, the two databases Confiotes runs on (anything else is refused)."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor not in _ENGINE_NAMES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.", code="engine_unsupported")
    return vendor


def _database_label() -> str:
    """The database as an operator recognises it, without any credential: a file, or name@host:port."""
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    if _engine() == "sqlite":
        return str(db["NAME"])
    return f"{db['NAME']} on {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"


def _sqlite_path() -> Path:
    """The file of the configured SQLite database (the per-process test file under pytest)."""
    return Path(str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]))


def _sqlite_copy(*, source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` into ``target`` with the online backup API, then check the copy.

    One backup step (``pages=-1``) copies every page inside one read transaction of ``source``: in WAL
    mode writers go on meanwhile, and the copy is the database as of one commit. A step-by-step copy
    would restart whenever another connection writes. The copy is checked (``PRAGMA quick_check``).
    """
    if not source.is_file():
        raise BackupError(f"There is no SQLite database at {source}.", code="not_found", status_code=404)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
        verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"The copy of {source} failed its integrity check: {verdict}.", code="corrupt")
    except sqlite3.Error as exc:
        raise BackupError(f"Could not copy the SQLite database {source} to {target}: {exc}.") from exc
    finally:
        dst.close()
        src.close()


def _pg_client(program: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore`` on PATH, or a clear error naming the package to install."""
    found = shutil.which(program)
    if found:
        return found
    major = connections[DEFAULT_DB_ALIAS].pg_version // 10000  # type: ignore[attr-defined]
    raise BackupError(
        f"{program} is not on PATH: install the PostgreSQL client tools of the server's version, {major} or "
        f"newer (Debian/Ubuntu: apt-get install postgresql-client-{major}).", code="pg_client_missing")


def _pg_env() -> dict[str, str]:
    """The environment for libpq tools: host, port, user, database and password from the settings.

    The password goes in ``PGPASSWORD`` (never on a command line, which ``ps`` shows to every user).
    """
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("NAME", "PGDATABASE"),
                     ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    for option, var in _LIBPQ_OPTION_ENV.items():
        if db.get("OPTIONS", {}).get(option) not in (None, ""):
            env[var] = str(db["OPTIONS"][option])
    return env


def _pg_run(argv: list[str], *, what: str) -> None:
    """Run a libpq tool with the settings' credentials; on failure, raise with its scrubbed error output."""
    env = _pg_env()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        detail = _scrub(completed.stderr.strip() or completed.stdout.strip(), env.get("PGPASSWORD", ""))
        raise BackupError(f"{what} failed (exit {completed.returncode}): {detail[-2000:]}", code="pg_failed")


def _pg_dump(*, target: Path) -> None:
    """Dump the configured PostgreSQL database into ``target`` (custom format, one consistent snapshot)."""
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    _pg_run([_pg_client("pg_dump"), "--format=custom", "--no-password", f"--file={target}",
             f"--dbname={db['NAME']}"], what="pg_dump")


def _pg_restore(*, source: Path) -> None:
    """Restore a custom-format dump into the configured PostgreSQL database, all or nothing."""
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    _pg_run([_pg_client("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
             "--no-password", f"--dbname={db['NAME']}", str(source)], what="pg_restore")


def _scrub(text: str, password: str) -> str:
    """``text`` with the database password (and any password in a ``scheme://user:password@`` URL) masked."""
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _applied_migrations() -> set[tuple[str, str]]:
    """The migrations recorded as applied in the configured database (empty when it has no tables)."""
    return set(MigrationRecorder(connections[DEFAULT_DB_ALIAS]).applied_migrations())


def _migration_warnings() -> list[str]:
    """What the operator must do about migrations after a restore: apply the code's, or use newer code."""
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    warnings = []
    unknown = set(executor.loader.applied_migrations) - set(executor.loader.disk_migrations)
    if unknown:
        warnings.append(f"The backup holds {len(unknown)} migrations this code does not know (e.g. "
                        f"{'.'.join(sorted(unknown)[0])}): it comes from a newer version; run that version.")
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        warnings.append(f"{len(pending)} migrations of this code are not applied yet: run `manage.py migrate`.")
    return warnings


# --- The data folder's secret key --------------------------------------------------------------


def _secret_key_fingerprint() -> str:
    """A short HMAC of a fixed text under ``SECRET_KEY``: tells two keys apart without revealing either."""
    return hmac.new(settings.SECRET_KEY.encode(), b"confiotes backup: secret key check",
                    hashlib.sha256).hexdigest()[:16]


def _embedded_secret_key_file() -> Path | None:
    """The data folder's ``secret_key`` file when it is the key in use (``DJANGO_SECRET_KEY`` not set)."""
    path = Path(settings.DATA_DIR) / DATA_KEY_FILE
    if path.is_file() and path.read_text().strip() == settings.SECRET_KEY:
        return path
    return None


def _secret_key_restore(manifest: dict[str, Any], key_copy: Path | None) -> list[str]:
    """Put the backup's generated key back into the data folder when that is where the key comes from.

    Returns a warning when the key in use after the restore would differ from the backup's.
    """
    expected = manifest.get("secret_key_fingerprint")
    if key_copy is not None and _embedded_secret_key_file() is not None:
        target = Path(settings.DATA_DIR) / DATA_KEY_FILE
        fd, tmp = tempfile.mkstemp(prefix=".secret_key-", dir=target.parent)
        with os.fdopen(fd, "w") as out:
            out.write(key_copy.read_text())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        return []  # processes started from now on read the backup's key
    if expected and expected != _secret_key_fingerprint():
        return ["The SECRET_KEY in use is not the one of the backup: set DJANGO_SECRET_KEY to the key the backup "
                "was taken with, or erased persons' identities will no longer be recognised (and sessions end)."]
    return []


# --- The archive ---------------------------------------------------------------------------------


def _archive_write(path: Path, members: list[tuple[Path, str]]) -> None:
    """Write ``members`` (file, name in the archive) as a gzipped tar readable by its owner only, synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
            for source, name in members:
                info = tar.gettarinfo(str(source), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
        raw.flush()
        os.fsync(raw.fileno())


def _archive_read(archive: Path, scratch: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Read the manifest of ``archive`` and copy its known members into ``scratch``.

    Only the names this module writes are read, each into a fixed file name, so an archive cannot write
    anywhere else whatever paths it holds.
    """
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            manifest = json.load(_member(tar, MANIFEST, archive))
            if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
                raise BackupError(f"{archive} is not a Confiotes backup of format version {FORMAT_VERSION}.",
                                  code="not_a_backup")
            wanted = [SQLITE_MEMBER if manifest["engine"] == "sqlite" else PG_MEMBER, *manifest.get("files", [])]
            extracted: dict[str, Path] = {}
            for index, name in enumerate(wanted):
                if name not in (SQLITE_MEMBER, PG_MEMBER, DATA_KEY_MEMBER):
                    continue  # a newer format's extra file: not ours to place
                target = scratch / f"member-{index}"
                with open(target, "wb") as out:
                    shutil.copyfileobj(_member(tar, name, archive), out)
                extracted[name] = target
    except (tarfile.TarError, OSError, json.JSONDecodeError, KeyError) as exc:
        raise BackupError(f"{archive} cannot be read as a Confiotes backup: {exc}.", code="not_a_backup") from exc
    return manifest, extracted


def _member(tar: tarfile.TarFile, name: str, archive: Path) -> IO[bytes]:
    """The regular file ``name`` of ``tar``, opened for reading; an error when it is missing."""
    try:
        handle = tar.extractfile(name)
    except KeyError:
        handle = None
    if handle is None:
        raise BackupError(f"{archive} has no {name}: it is incomplete or not a Confiotes backup.",
                          code="not_a_backup")
    return handle


def _leftovers_remove(folder: Path) -> None:
    """Delete staging folders and partial archives of backup runs killed more than a day ago."""
    if not folder.is_dir():
        return
    cutoff = time.time() - _LEFTOVER_AGE_SECONDS
    for path in folder.iterdir():
        if not (path.name.startswith(_STAGING_PREFIX) or path.name.endswith(_PARTIAL_SUFFIX)):
            continue
        try:
            if path.stat().st_mtime >= cutoff:
                continue  # perhaps a run in progress
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue


def size_human(size_bytes: int) -> str:
    """``size_bytes`` for a person: 512 B, 3.4 KB, 12.0 MB, 1.2 GB."""
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
