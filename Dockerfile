# Log Retrieval: one image for the web (gunicorn), the Celery worker and Celery beat.
#   docker build -t logretrieval:local .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=logsite.settings \
    VAR_DIR=/app/var \
    LOG_FORMAT=json

# Runtime requirements only (no test tools); every package ships a wheel, so no compiler.
COPY requirements/base.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# A fixed numeric uid, so that Kubernetes' runAsNonRoot can verify it.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY . .
# Static files are collected at build time and served by WhiteNoise from the image.
# DEBUG=true only lets settings load without a SECRET_KEY for this one command.
RUN DEBUG=true python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var && chown app:app /app/var

USER 10001
EXPOSE 8000
# /healthz answers 200 only when MongoDB, SQL, the broker and the archive storage answer.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=8)"]
# gunicorn.conf.py: bind, workers and threads from the environment.
CMD ["gunicorn", "logsite.wsgi"]
