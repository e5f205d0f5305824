"""No configured secret reaches the output of a real run: gunicorn's access and error logs, a Celery
worker's and beat's logs. Each process runs on loopback in a scratch data folder, with every secret
setting given a value, and its whole output is scanned for those values (as given and as they appear
percent-encoded in a URL)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import pytest
from django.conf import settings

from tests.hardening.celery_log_probe import MARKER

ROOT = Path(__file__).resolve().parents[2]
# Values with the characters that a URL percent-encodes, so the encoded forms are checked too.
SECRETS = {
    "TELEGRAM_BOT_TOKEN": "123456789:AAE-telegram-bot-token-value",
    "TELEGRAM_WEBHOOK_SECRET": "telegram-webhook-secret-value",
    "META_APP_SECRET": "meta-app-secret-value-0123",
    "META_VERIFY_TOKEN": "verify+token/with=odd&chars",
    "META_ACCESS_TOKEN": "EAAmeta-access-token-value",
    "META_PAGE_ACCESS_TOKEN": "EAApage-access-token-value",
    "WHATSAPP_ACCESS_TOKEN": "EAAwhatsapp-access-token-value",
    "SECRET_KEY": "django-secret-key-value-for-the-log-test",
}
ENVIRONMENT_NAMES = {"SECRET_KEY": "DJANGO_SECRET_KEY"}


def _leaks(output: str) -> list[str]:
    """Every form of every secret found in ``output``."""
    forms = {form for value in SECRETS.values() for form in (value, quote(value, safe=""), quote_plus(value, safe=""))}
    return sorted(form for form in forms if form in output)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({ENVIRONMENT_NAMES.get(name, name): value for name, value in SECRETS.items()})
    env.update(CONFIOTES_DATA_DIR=str(data_dir), CONFIOTES_CELERY_QUEUE=f"secrets-probe-{os.getpid()}",
               WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1")
    return env


def _start(command: list[str], data_dir: Path) -> tuple[subprocess.Popen, Path]:
    log = data_dir / f"{Path(command[0]).name}-{len(list(data_dir.glob('*.log')))}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=_env(data_dir), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(condition, proc: subprocess.Popen, log: Path, what: str, timeout: float = 90) -> None:
    """Wait for a process to reach a state (generous: this is a start-up, not a speed figure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_secret_names_are_the_configured_ones():
    assert set(SECRETS) == set(settings.SECRET_SETTING_NAMES)


def test_gunicorn_logs_the_meta_handshake_without_the_verify_token(tmp_path):
    port = _free_port()
    proc, log = _start([str(Path(sys.executable).parent / "gunicorn"), "api.wsgi:application",
                        "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
                        "--log-level", "debug", "--no-control-socket"], tmp_path)
    try:
        def answers() -> bool:
            try:
                return _get(port, "/api/v1/webhooks/meta")[0] == 403
            except OSError:
                return False

        _wait_for(answers, proc, log, "gunicorn answering")
        handshake = urlencode({"hub.mode": "subscribe", "hub.verify_token": SECRETS["META_VERIFY_TOKEN"],
                               "hub.challenge": "1158201444"})
        assert _get(port, f"/api/v1/webhooks/meta?{handshake}") == (200, b"1158201444")
        near_miss = urlencode({"hub.mode": "subscribe", "hub.verify_token": SECRETS["META_VERIFY_TOKEN"] + "x",
                               "hub.challenge": "1"})
        assert _get(port, f"/api/v1/webhooks/meta?{near_miss}")[0] == 403
        # A token in a path, as Telegram's is in its Bot API URLs.
        assert _get(port, f"/bot{quote(SECRETS['TELEGRAM_BOT_TOKEN'])}/getMe")[0] == 404
    finally:
        _stop(proc)
    output = log.read_text()
    assert '"GET /api/v1/webhooks/meta?hub.mode=subscribe&hub.verify_token=***&hub.challenge=1158201444 HTTP/1.1" 200' \
        in output  # the access log line is there, without the token
    assert "/bot***/getMe" in output
    assert _leaks(output) == []


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_a_celery_worker_and_beat_log_no_secret(tmp_path, program):
    command = [sys.executable, "-m", "celery", "-A", "tests.hardening.celery_log_probe", program, "--loglevel", "INFO"]
    if program == "worker":
        command += ["--pool", "solo", "--without-mingle", "--without-gossip", "--hostname", f"probe-{os.getpid()}@test"]
    else:
        command += ["--schedule", str(tmp_path / "celerybeat-schedule")]
    proc, log = _start(command, tmp_path)
    try:
        _wait_for(lambda: MARKER in log.read_text(), proc, log, f"the {program} logging the secrets")
    finally:
        _stop(proc)
    output = log.read_text()
    assert output.count("/bot***/getMe") == len(SECRETS)  # each record was written, scrubbed
    assert output.count("https://graph.example/***/me") == len(SECRETS)  # also percent-encoded, by the task logger
    assert "refused with ***" in output  # and the tracebacks too
    assert _leaks(output) == []
