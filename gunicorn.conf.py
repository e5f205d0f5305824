"""gunicorn settings of the API, read by `bin/run`, the Docker image, docker compose, schemathesis
and the partner benchmark (each may still override one on its command line).

Sync workers, two per core: each process serves one request at a time, so a request never
waits for the GIL behind another one and the operating system shares the cores fairly. On
the two-core machine this cut the partner API's p99 latency under 32 concurrent connections
from 100-250 ms (gthread, 2-4 threads per process) to about 20-40 ms at the same throughput
(bench/partner_poll.py). Sync workers read a slow client's request in full before moving on,
so on the internet they belong behind a buffering reverse proxy (nginx, a load balancer).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
# The longest answers (a 100,000-contact CSV export, the HTML report with its charts) take seconds;
# a sync worker busy longer than this is presumed stuck and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# Access and error logs go through the same secret scrubber as every other log (api/common/logging.py):
# the access log printed Meta's `hub.verify_token=...` in the request line. The scrubber reads the
# secrets from the Django settings, in the master process too.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
logger_class = "api.common.logging.GunicornLogger"
