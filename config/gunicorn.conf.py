"""gunicorn for production: `gunicorn -c config/gunicorn.conf.py config.wsgi` (docs/operations.md).

Sync workers: a request is a short burst of CPU, so processes beat threads under the GIL; a sync worker waits
for a slow client's whole request, so run it behind a buffering proxy (nginx, a cloud load balancer).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
# GUNICORN_THREADS > 1: threaded workers (gthread). Requests waiting on the intake log's fsync
# (appendfsync always) then share it, where a sync worker waits alone (docs/performance.md, "The intake log").
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# Keep-alive matters behind a load balancer that reuses connections.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
# Load the app before forking: less memory per worker and faster restarts.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
