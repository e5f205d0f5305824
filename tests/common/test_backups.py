"""Backups: ``manage.py backup`` and ``manage.py restore``, run as an operator runs them.

- A backup taken while a broadcast is sending and another thread keeps writing restores into a fresh
  installation (a new data folder and a new database) that passes ``check`` and ``migrate --check`` and
  finds, through the selectors, every row committed before the backup started, no half-written write, the
  import files, and still refuses erased identities (the data folder's key came back with the database).
- Rotation keeps the newest copy of each of the last N days that have one.
- A restore refuses a database that holds data unless ``--force``.
- On PostgreSQL (CI's second run): pg_dump/pg_restore round trips into a scratch database created and dropped
  here, and the password travels in ``PGPASSWORD``, never on a command line nor in any output.

The backup and the restores run as subprocesses (``manage.py …`` with the environment pointing at a data
folder and a database), the honest way to test commands an operator types while the app runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from api.common import backups
from api.nurture.ratelimit import RateLimiterBase
from tests.fakes.telegram_server import FakeTelegram
from tests.workers.processes import ROOT

TOKEN = "123456:TEST-backup-token"
BROADCAST_SIZE = 120
SENT_BEFORE_BACKUP = 20
# Messages never allowed to go: the snapshot is mid-broadcast whatever the machine's speed.
NEVER_SENT = 40
PERMIT_EVERY_SECONDS = 0.05
ERASED_PHONE = "+237650009999"
CSV = "nom;téléphone;ville\nAwa;+237650001111;Douala\nBen;677 00 22 22;Yaoundé\n".encode()

# Runs in the restored installation: the checks an operator runs after a restore, then reads through
# the selectors and writes through the services, and prints what it found as JSON.
VERIFY_SCRIPT = r"""
import hashlib, json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
django.setup()
from django.core.management import call_command
call_command("check")
call_command("migrate", check_unapplied=True, verbosity=0)  # exits 1 when a migration is not applied
from api.common.errors import ConflictError
from api.contacts.selectors import contact_get, contact_list, import_job_get
from api.contacts.services import contact_upsert
from api.nurture.selectors import broadcast_get, broadcast_progress, outbound_list
ask = json.loads(sys.argv[1])
found = {"contacts": {c.pk: c.phone for c in contact_list().filter(phone__startswith="+2376")}}
found["writer"] = {m.idempotency_key: m.contact_id
                   for m in outbound_list().filter(idempotency_key__startswith="backup-writer:")}
if ask.get("broadcast"):
    found["broadcast"] = {str(m.pk): m.state for m in outbound_list().filter(broadcast_id=ask["broadcast"])}
    found["progress"] = broadcast_progress(broadcast_get(ask["broadcast"]))
if ask.get("import_job"):
    found["import_sha256"] = hashlib.sha256(bytes(import_job_get(ask["import_job"]).data)).hexdigest()
if ask.get("erased_phone"):
    try:
        contact_upsert(phone=ask["erased_phone"], first_name="Revenu")
        found["erased"] = "accepted"
    except ConflictError as exc:
        found["erased"] = exc.code
new = contact_upsert(phone="+237677000001", first_name="Après restauration").contact
found["new_contact"] = contact_get(new.pk).first_name
print("VERIFY " + json.dumps(found))
"""


# --- Processes and databases ------------------------------------------------------------------


def _pg_url(name: str, *, password: str | None = None) -> str:
    db = connection.settings_dict
    secret = password if password is not None else (db.get("PASSWORD") or "")
    credentials = f"{quote(db['USER'], safe='')}:{quote(secret, safe='')}" if secret else quote(db["USER"], safe="")
    return f"postgresql://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _test_database_url(*, password: str | None = None) -> str:
    """The URL of this test process's own test database, for a subprocess to back it up."""
    if settings.IS_SQLITE:
        return f"sqlite:///{connection.settings_dict['NAME']}"
    return _pg_url(connection.settings_dict["NAME"], password=password)


def _env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """An installation's environment: its data folder, its database (default: SQLite in that folder).

    No Redis: backup and restore need none, and the restored app then keeps its cache and kicks in its
    own data folder instead of a Redis that other runs share.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["CONFIOTES_DATA_DIR"] = str(data_dir)
    env["CONFIOTES_CELERY_QUEUE"] = f"test-backups-{uuid.uuid4().hex[:8]}"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _verify(env: dict[str, str], **ask: Any) -> dict[str, Any]:
    """Run the checks and reads of ``VERIFY_SCRIPT`` in the installation of ``env``."""
    done = subprocess.run([sys.executable, "-c", VERIFY_SCRIPT, json.dumps(ask)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("VERIFY "))
    return json.loads(line.removeprefix("VERIFY "))


@contextmanager
def _pg_admin():
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db.get("PASSWORD") or None,
                         dbname="postgres", autocommit=True) as admin:
        yield admin


@pytest.fixture
def backup_tools() -> None:
    """pg_dump and pg_restore on PostgreSQL: a skip locally without them, a failure in CI (never a skip)."""
    if settings.IS_SQLITE:
        return
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not on PATH (Debian: apt-get install postgresql-client)"
        if os.environ.get("CONFIOTES_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def fresh_install(tmp_path, backup_tools) -> Iterator[dict[str, str]]:
    """The environment of a fresh installation: a new data folder and, on PostgreSQL, a new empty database
    (``backup_test_<pid>_<random>``, created here and dropped afterwards)."""
    data_dir = tmp_path / "fresh"
    if settings.IS_SQLITE:
        yield _env(data_dir)
        return
    from psycopg import sql

    name = f"backup_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _env(data_dir, _pg_url(name))
    finally:
        with _pg_admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- A backup while the app works ----------------------------------------------------------------


class GatedLimiter(RateLimiterBase):
    """The dispatcher's rate limiter with the test as the clock: a message goes only with a permit.

    So the broadcast sends throughout the backup and is still unfinished when it ends, on any machine.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._permits = 0
        self.granted = 0

    def grant(self, count: int = 1) -> None:
        with self._lock:
            self._permits += count
            self.granted += count

    def acquire(self, provider: str, chat: str) -> tuple[float, str]:
        with self._lock:
            if self._permits > 0:
                self._permits -= 1
                return 0.0, ""
        return 0.02, "global"

    def pause(self, provider: str, seconds: float) -> None:
        return None


def _in_thread(target, stop: threading.Event, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target(stop)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _sent_ids(broadcast_id: int) -> set[int]:
    from api.nurture.selectors import outbound_list

    return set(outbound_list().filter(broadcast_id=broadcast_id, state="sent").values_list("pk", flat=True))


@pytest.fixture
def sending_settings(settings):
    """A fake Telegram on loopback; no broker kicks (the test runs the dispatcher); any hour is a sending hour."""
    settings.NURTURE_KICK_DISPATCHER = False
    settings.NURTURE_WINDOW_START = "00:00"
    settings.NURTURE_WINDOW_END = "00:00"
    with FakeTelegram(token=TOKEN, global_rate=None, per_chat_rate=None) as fake:
        settings.TELEGRAM_BOT_TOKEN = TOKEN
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        yield fake


def test_a_backup_taken_while_a_broadcast_sends_restores_into_a_working_app(transactional_db, sending_settings,
                                                                             fresh_install, tmp_path):
    from api.contacts.services import contact_erase, contact_upsert, import_job_create
    from api.nurture.services import broadcast_create, broadcast_start, outbound_dispatch, outbound_enqueue

    # Given: a customer file, an erased person, a stored import file and a broadcast under way.
    for i in range(BROADCAST_SIZE):
        contact_upsert(telegram_chat_id=str(8_000_000 + i), first_name=f"C{i}", consents=["telegram"],
                       consent_how="test")
    erased = contact_upsert(phone=ERASED_PHONE, first_name="Efface").contact
    contact_erase(contact_id=erased.pk)
    with mock.patch("api.contacts.services.imports.jobs.task_kick_on_commit"):  # no worker here
        job = import_job_create(file_name="clients.csv", data=CSV)
    broadcast = broadcast_create(name="Coffrets", text="{first_name}, nos coffrets sont là", send_at=timezone.now(),
                                 channels=["telegram"])
    assert broadcast_start(broadcast_id=broadcast.pk) == BROADCAST_SIZE

    gate = GatedLimiter()
    stop = threading.Event()
    errors: list[BaseException] = []
    started: list[int] = []  # writes of the writer thread, counted before their commit...
    committed: list[int] = []  # ...and after it

    def dispatcher(stop: threading.Event) -> None:
        while not stop.is_set():
            outbound_dispatch(limiter=gate, max_seconds=0.5)

    def writer(stop: threading.Event) -> None:
        tomorrow = timezone.now() + timedelta(days=1)
        i = 0
        while not stop.is_set():
            # A contact and its queued message in one transaction: a consistent copy has both or neither.
            started.append(i)
            with transaction.atomic():
                contact = contact_upsert(phone=f"+23769{i:07d}", first_name=f"W{i}").contact
                outbound_enqueue(idempotency_key=f"backup-writer:{i}", channel="telegram", recipient=f"w{i}",
                                 text="Bonjour", contact_id=contact.pk, due_at=tomorrow)
            committed.append(i)
            i += 1
            time.sleep(0.005)

    threads = [_in_thread(dispatcher, stop, errors)]
    gate.grant(SENT_BEFORE_BACKUP)
    deadline = time.monotonic() + 60
    while len(_sent_ids(broadcast.pk)) < SENT_BEFORE_BACKUP and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    threads.append(_in_thread(writer, stop, errors))
    while len(committed) < 5 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)

    # When: a backup is taken as an operator (or the beat task) takes it, while both keep going.
    sent_before, writes_before = _sent_ids(broadcast.pk), len(committed)
    dest = tmp_path / "backups"
    backup = subprocess.Popen([sys.executable, "manage.py", "backup", "--dest", str(dest)], cwd=ROOT,
                              env=_env(Path(settings.DATA_DIR), _test_database_url()),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while backup.poll() is None:
        if gate.granted < BROADCAST_SIZE - NEVER_SENT:
            gate.grant()
        time.sleep(PERMIT_EVERY_SECONDS)
    output, problems = backup.communicate()
    sent_after, writes_after = _sent_ids(broadcast.pk), len(started)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert backup.returncode == 0, output + problems
    assert len(sent_before) >= SENT_BEFORE_BACKUP
    assert len(sent_after) <= BROADCAST_SIZE - NEVER_SENT
    archive = next(dest.glob("confiotes-*.tar.gz"))
    assert f"Backup written: {archive} (" in output

    # And: it is restored into a fresh installation.
    restored = _manage("restore", str(archive), env=fresh_install)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Restored" in restored.stdout

    # Then: the restored app passes its checks and finds, through its selectors, a consistent snapshot.
    found = _verify(fresh_install, broadcast=broadcast.pk, import_job=job.pk, erased_phone=ERASED_PHONE)
    # The writer's writes: a prefix of the commit order, each write whole (contact and message together).
    keys = sorted(int(key.split(":")[1]) for key in found["writer"])
    assert keys == list(range(len(keys)))
    assert writes_before <= len(keys) <= writes_after
    writer_phones = {f"+23769{i:07d}" for i in keys}
    assert {found["contacts"][str(cid)] for cid in found["writer"].values()} == writer_phones
    assert {phone for phone in found["contacts"].values() if phone.startswith("+23769")} == writer_phones
    # The broadcast: every message sent before the backup is sent, none sent only after it; the rest waits.
    states = {int(pk): state for pk, state in found["broadcast"].items()}
    restored_sent = {pk for pk, state in states.items() if state == "sent"}
    assert sent_before <= restored_sent <= sent_after
    assert len(states) == BROADCAST_SIZE
    assert set(states.values()) <= {"scheduled", "sending", "sent"}
    assert found["progress"]["total"] == BROADCAST_SIZE
    assert found["progress"]["sent"] == len(restored_sent)
    # The stored import file, byte for byte; the erased person is still refused (the key came back too).
    assert found["import_sha256"] == hashlib.sha256(CSV).hexdigest()
    assert found["erased"] == "erased_identity"
    # And the restored app takes new writes.
    assert found["new_contact"] == "Après restauration"


# --- Rotation --------------------------------------------------------------------------------------


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_rotation_keeps_the_newest_copy_of_each_of_the_last_n_days_that_have_one(tmp_path):
    folder = tmp_path / "backups"
    _touch(folder,
           "confiotes-20261201-013000.tar.gz", "confiotes-20261201-150000.tar.gz",  # two on the 1st
           "confiotes-20261128-013000.tar.gz",  # a gap: no backup on the 29th and 30th
           "confiotes-20261127-013000.tar.gz", "confiotes-20261127-220000.tar.gz",
           "confiotes-20261126-013000.tar.gz",
           "notes.txt", "confiotes-latest.tar.gz", ".confiotes-20261201-160000.tar.gz.123.partial")

    deleted = backups.backups_rotate(folder=folder, keep_daily=3)

    assert sorted(p.name for p in folder.iterdir()) == [
        ".confiotes-20261201-160000.tar.gz.123.partial",  # perhaps a run in progress: younger than a day
        "confiotes-20261127-220000.tar.gz", "confiotes-20261128-013000.tar.gz", "confiotes-20261201-150000.tar.gz",
        "confiotes-latest.tar.gz", "notes.txt",
    ]
    assert [p.name for p in deleted] == ["confiotes-20261201-013000.tar.gz", "confiotes-20261127-013000.tar.gz",
                                         "confiotes-20261126-013000.tar.gz"]
    assert backups.backups_rotate(folder=folder, keep_daily=0) == []  # 0 keeps every copy


def test_rotation_removes_what_a_killed_run_left_a_day_ago(tmp_path):
    folder = tmp_path / "backups"
    _touch(folder, ".confiotes-20261120-013000.tar.gz.99.partial")
    (folder / ".backup-staging-abc").mkdir()
    old = time.time() - 2 * 24 * 3600
    for path in folder.iterdir():
        os.utime(path, (old, old))

    backups.backups_rotate(folder=folder, keep_daily=7)

    assert list(folder.iterdir()) == []


def test_the_backup_command_writes_a_private_dated_copy_and_rotates(db, tmp_path, backup_tools):
    folder = tmp_path / "backups"
    _touch(folder, "confiotes-20200101-013000.tar.gz", "confiotes-20200102-013000.tar.gz",
           "confiotes-20200102-120000.tar.gz")
    out = io.StringIO()

    call_command("backup", "--dest", str(folder), "--keep-daily", "2", stdout=out)

    written = sorted(p.name for p in folder.iterdir())
    assert len(written) == 2
    assert written[0] == "confiotes-20200102-120000.tar.gz"
    newest = folder / written[1]
    assert f"Backup written: {newest} (" in out.getvalue()
    assert "Deleted an older copy: confiotes-20200101-013000.tar.gz" in out.getvalue()
    assert stat.S_IMODE(newest.stat().st_mode) == 0o600  # every customer's data: its owner only


def test_the_daily_backup_is_a_registered_task_scheduled_at_night(db, settings, tmp_path, backup_tools):
    import workers.tasks  # noqa: F401 - registers the tasks as a worker does
    from workers.celery import app
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks.system import backup_daily

    entry = BEAT_SCHEDULE["common-backup-daily"]
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {1}
    assert entry["options"]["expires"] <= 6 * 3600
    settings.DATA_DIR = tmp_path

    result = backup_daily()

    assert Path(result["path"]).parent == tmp_path / "backups"
    assert Path(result["path"]).is_file()


# --- Restore refuses to overwrite --------------------------------------------------------------------


def test_restore_refuses_a_database_that_holds_data_unless_forced(transactional_db, fresh_install, tmp_path):
    from api.contacts.selectors import contact_list
    from api.contacts.services import contact_upsert

    contact_upsert(phone="+237650000001", first_name="Awa")
    call_command("backup", "--dest", str(tmp_path / "a"), stdout=io.StringIO())
    first = next((tmp_path / "a").glob("confiotes-*.tar.gz"))
    contact_upsert(phone="+237650000002", first_name="Ben")
    call_command("backup", "--dest", str(tmp_path / "b"), stdout=io.StringIO())
    second = next((tmp_path / "b").glob("confiotes-*.tar.gz"))

    # This very database holds data: refused, nothing changed.
    with pytest.raises(CommandError, match="already holds data.*--force"):
        call_command("restore", str(first))
    assert set(contact_list().values_list("first_name", flat=True)) == {"Awa", "Ben"}

    # A fresh installation takes the first backup; then it holds data and refuses the second one...
    assert _manage("restore", str(first), env=fresh_install).returncode == 0
    refused = _manage("restore", str(second), env=fresh_install)
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr
    assert "--force" in refused.stderr

    # ...unless forced, and then the replaced database is backed up first.
    forced = _manage("restore", "--force", str(second), env=fresh_install)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    safety = Path(fresh_install["CONFIOTES_DATA_DIR"]) / "backups"
    assert f"backed up first: {safety}" in forced.stdout
    assert len(list(safety.glob("confiotes-*.tar.gz"))) == 1
    assert set(_verify(fresh_install)["contacts"].values()) >= {"+237650000001", "+237650000002"}


# --- PostgreSQL: the password stays out of command lines and output -----------------------------------


@pytest.mark.skipif(settings.IS_SQLITE, reason="pg_dump and pg_restore are for PostgreSQL (CI's second run)")
def test_postgresql_backup_and_restore_keep_the_password_out_of_argv_and_output(transactional_db, fresh_install,
                                                                                 tmp_path, monkeypatch):
    from api.contacts.services import contact_upsert

    password = "pw-Never-Shown-4821"  # the CI server trusts loopback: any password is accepted
    contact_upsert(phone="+237650000003", first_name="Chantal")
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", password)
    real_run = subprocess.run
    calls: list[tuple[list[str], dict[str, str]]] = []

    def spy(argv, **kwargs):
        calls.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", spy)
    result = backups.backup_create(dest=tmp_path / "b", keep_daily=0)

    (argv, env), = calls
    assert Path(argv[0]).name == "pg_dump"
    assert "--format=custom" in argv
    assert not any(password in part for part in argv)
    assert env["PGPASSWORD"] == password

    # A restore with the password in DATABASE_URL, into the scratch database, echoes it nowhere.
    scratch = fresh_install["DATABASE_URL"].rsplit("/", 1)[1]
    env_with_password = {**fresh_install, "DATABASE_URL": _pg_url(scratch, password=password)}
    restored = _manage("restore", str(result.path), env=env_with_password)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert password not in restored.stdout + restored.stderr
    assert "+237650000003" in _verify(fresh_install)["contacts"].values()

    # Nor does a failing pg_dump (a database that does not exist).
    failed = _manage("backup", "--dest", str(tmp_path / "c"),
                     env=_env(tmp_path / "other", _pg_url(f"missing_{uuid.uuid4().hex[:6]}", password=password)))
    assert failed.returncode == 1
    assert "pg_dump failed" in failed.stderr
    assert password not in failed.stdout + failed.stderr
