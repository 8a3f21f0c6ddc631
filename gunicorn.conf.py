"""gunicorn's settings for Lifecycle CRM, read from the project directory (gunicorn loads
./gunicorn.conf.py by default): ``gunicorn config.wsgi``. Command-line options override them.

Threaded workers: a request spends about half its time waiting for PostgreSQL (a durable
commit), so each process serves several requests at once instead of idling through those
waits (bench scenario 3). Each thread keeps its own database connection: plan for
``workers x threads`` connections per web host (PostgreSQL's default limit is 100)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY is the common name for "web processes per host" (Heroku, Render, Dokku).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A worker silent for this long is restarted (a stuck request must not hold it for ever).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5
# Restart a worker now and then, spread out, so no slow leak builds up in a long-lived process.
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # "-" for stdout
