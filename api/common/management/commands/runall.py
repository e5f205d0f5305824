"""Start the API (gunicorn), a Celery worker and Celery beat together; Ctrl-C stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the API, a Celery worker and Celery beat in one terminal (the embedded default)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args, host, port, **options):
        python = sys.executable
        bindir = os.path.dirname(python)
        # SQLite allows one writer at a time: one solo worker keeps lock waits short on the embedded default.
        pool = ["--pool", "solo"] if settings.IS_SQLITE else ["--concurrency", "2"]
        commands = {
            "web": [os.path.join(bindir, "gunicorn"), "api.wsgi:application", "--config", str(settings.BASE_DIR / "gunicorn.conf.py"),
                    "--bind", f"{host}:{port}", "--access-logfile", "-"],
            "worker": [python, "-m", "celery", "-A", "workers", "worker", "--loglevel", "INFO",
                       "--without-mingle", "--without-gossip", *pool],
            "beat": [python, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO",
                     "--schedule", settings.CELERY_BEAT_SCHEDULE_FILE],
        }
        procs: dict[str, subprocess.Popen] = {}
        for name, command in commands.items():
            procs[name] = subprocess.Popen(command, start_new_session=True)
        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS(
            f"\nConfiotes is running (database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {'redis' if settings.REDIS_URL else 'file system'}).\n"
            f"  Back office (staff):   {base}/app/  (in French, phone-first; sign in with the staff user)\n"
            f"  API docs (Swagger UI): {base}/api/docs/\n"
            f"  API docs (Redoc):      {base}/api/redoc/\n"
            f"  Health:                {base}/api/v1/health\n"
            f"  Admin:                 {base}/admin/  (log in with the staff user printed above)\n"
            f"Press Ctrl-C to stop the API, the worker and beat.\n"
        ))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Stopped.")
