# Lifecycle CRM: one image for the web app (gunicorn) and the worker (qcluster).
# Build: docker build -t lifecycle-crm .   Run everything: docker compose up (compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    LOG_FORMAT=json \
    ENV_FILE=

WORKDIR /app
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && chown app:app /app

# Dependencies first (a layer that changes only with the lock file), pinned and hash-checked.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY --chown=app:app . .
# collectstatic imports the settings, which in production need these: build-time values only,
# never used at run time (compose.yaml / the platform supplies the real ones).
RUN SECRET_KEY=collectstatic-only-not-a-secret ALLOWED_HOSTS=localhost PUBLIC_BASE_URL=http://localhost \
    python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R app:app /app/staticfiles

USER app
EXPOSE 8000
# gunicorn reads ./gunicorn.conf.py (threaded workers; WEB_CONCURRENCY, GUNICORN_* variables).
CMD ["gunicorn", "config.wsgi"]
