"""Settings for Log Retrieval.

Every setting that differs between machines comes from the environment (see the
table in README.md and `.env.example`); each has a default that works on a
developer machine with the services started by `devservices.localservices`.
"""

import os
from pathlib import Path

import dj_database_url
from botocore.config import Config as BotoConfig
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# HTTPS: on by default when DEBUG is off, so `check --deploy` is clean. Set
# HTTPS_ONLY=false only to serve plain HTTP on a trusted network.
HTTPS_ONLY = env_bool("HTTPS_ONLY", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if HTTPS_ONLY else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
# The header's "preload" only consents; nothing is preloaded until the domain's owner submits it.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS_ONLY)
# Behind a TLS-terminating proxy (ingress, load balancer) that sets X-Forwarded-Proto
# and strips it from clients; without a proxy this would let clients fake HTTPS.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files served by the app itself (WhiteNoise): /api/docs/ works without internet.
    "drf_spectacular_sidecar",
    "axes",
    "django_celery_beat",
    "access",
    "retrieval",
    "intake",
    "explorer",
    "api",
    "archive",
    "metrics",
    "alerts",
]

MIDDLEWARE = [
    # First: probes and scrapes come by IP over plain HTTP (see the class).
    "logsite.middleware.ProbeEndpointsMiddleware",
    # Its process_exception turns a service outage into a 503 and an oversized request into a 400.
    "logsite.middleware.ServiceFailureMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "logsite.urls"
WSGI_APPLICATION = "logsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "explorer.views.time_preference_context",
            ],
        },
    },
]

# Two databases: Django's own tables (auth, sessions, admin log, beat schedule,
# archive ledger) live in SQL; logs live in MongoDB. `logsite.routers` sends the
# log model to "logs" and everything else to "default".
MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
MONGODB_NAME = os.environ.get("MONGODB_NAME", "logretrieval")
VAR_DIR.mkdir(parents=True, exist_ok=True)
# Lower case: Django's settings are the upper-case names; this one is only DATABASES["default"].
sql_database = dj_database_url.parse(
    os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
    conn_max_age=60,
)
# The test database (pytest-django creates it): SQL_TEST_DB_NAME, if set, names it
# (a file for SQLite, a database for PostgreSQL, where the default is test_<NAME>).
if sql_database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:", so that a Celery worker started by the tests sees
    # the same test database as the test process.
    # SQL_TEST_DB_NAME keeps concurrent test runs apart.
    sql_database["TEST"] = {"NAME": os.environ.get("SQL_TEST_DB_NAME", str(VAR_DIR / "test-db.sqlite3"))}
    sql_database["OPTIONS"] = {"timeout": 20}
elif os.environ.get("SQL_TEST_DB_NAME"):
    sql_database["TEST"] = {"NAME": os.environ["SQL_TEST_DB_NAME"]}
# A SQL server that does not answer (down, paused, unreachable) fails a request within this
# many seconds (per round trip, and to connect), answered 503 with Retry-After by every door.
SQL_TIMEOUT_SECONDS = float(os.environ.get("SQL_TIMEOUT_SECONDS", "10"))
if sql_database["ENGINE"] == "django.db.backends.postgresql":
    from logsite import sqldeadline

    sql_database.setdefault("OPTIONS", {}).setdefault("connect_timeout", max(2, round(SQL_TIMEOUT_SECONDS)))
    sqldeadline.install(SQL_TIMEOUT_SECONDS)
DATABASES = {
    "default": sql_database,
    "logs": {
        "ENGINE": "logsite.mongodb",
        "HOST": MONGODB_URI,
        "NAME": MONGODB_NAME,
        # socketTimeoutMS: a backstop against a server that stops answering mid-command; searches
        # (SEARCH_TIMEOUT_SECONDS) and ingest have their own, shorter deadlines. Generous, since
        # one archiver delete command scans the collection on FerretDB (docs/ferretdb.md).
        "OPTIONS": {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 300_000},
    },
}
DATABASE_ROUTERS = ["logsite.routers.LogsRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
# django-axes first: it refuses a locked-out account before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Login lockout (django-axes): the AXES_FAILURE_LIMIT-th wrong password for one username locks
# that account (page and admin alike) for AXES_COOLOFF_HOURS. State in SQL, so every worker sees it.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# axes.W006 asks to count failures per client address too: behind an ingress every client may share
# one address, and a stranger's wrong passwords would then lock everyone out.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
# Must stay UTC: the MongoDB backend refuses date truncation in any other zone,
# and a log day is a UTC day everywhere in this product.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Object storage for the archive (cold storage).
ARCHIVE_STORAGE = os.environ.get("ARCHIVE_STORAGE", "file")
ARCHIVE_BUCKET = os.environ.get("ARCHIVE_BUCKET", "log-archive")
ARCHIVE_PREFIX = os.environ.get("ARCHIVE_PREFIX", "logs").strip("/")
S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
ARCHIVE_DIR = Path(os.environ.get("ARCHIVE_DIR", VAR_DIR / "archive"))
if ARCHIVE_STORAGE == "s3":
    ARCHIVE_STORAGE_CONFIG = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ARCHIVE_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL,
            "file_overwrite": False,
            "default_acl": None,
            # Bounded waits so that a slow or absent object store degrades
            # searches instead of hanging them.
            "client_config": BotoConfig(
                connect_timeout=3,
                read_timeout=10,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }
elif ARCHIVE_STORAGE == "file":
    ARCHIVE_STORAGE_CONFIG = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ARCHIVE_DIR)},
    }
else:
    raise ImproperlyConfigured("ARCHIVE_STORAGE must be 'file' or 's3'.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "archive": ARCHIVE_STORAGE_CONFIG,
}
HOT_RETENTION_DAYS = int(os.environ.get("HOT_RETENTION_DAYS", "1"))

# Where searches read logs (retrieval.sources.LogSource), in reading order, which is also
# the order of preference for a log two sources hold. Hot strictly before cold: the
# archiver records a part before it purges its logs, so reading MongoDB and then the
# ledger sees every log at least once (retrieval/planner.py says why). Keep this order.
# archive.hot.HotSource is retrieval's HotSource that skips the days the archiver emptied;
# without the archive app, "retrieval.sources.HotSource" alone.
LOG_SOURCES = ["archive.hot.HotSource", "archive.source.ColdSource"]

# Model metrics (metrics/): extraction at intake on or off (the bench turns it off to measure it), and how
# many days keep hourly aggregates before the daily beat task rolls them up into one row per day.
METRICS_EXTRACTION = os.environ.get("METRICS_EXTRACTION", "true").lower() == "true"
METRICS_HOURLY_DAYS = int(os.environ.get("METRICS_HOURLY_DAYS", "14"))
# The longest range one metrics query may cover (a chart of a year is a question users ask).
METRICS_MAX_SPAN_DAYS = int(os.environ.get("METRICS_MAX_SPAN_DAYS", "366"))

# Search: the longest time range one query may cover, and the range when none is given.
SEARCH_MAX_SPAN_DAYS = int(os.environ.get("SEARCH_MAX_SPAN_DAYS", "31"))
SEARCH_DEFAULT_SPAN_HOURS = int(os.environ.get("SEARCH_DEFAULT_SPAN_HOURS", "24"))
# How often the live tail (the page's and GET /api/v1/logs/tail) polls when its last page was not full.
TAIL_POLL_SECONDS = int(os.environ.get("TAIL_POLL_SECONDS", "2"))
# How long MongoDB may take for its part of one search page or histogram (sent as maxTimeMS);
# past it the page is partial, saying so, rather than a web thread waiting on a full scan.
SEARCH_TIMEOUT_SECONDS = float(os.environ.get("SEARCH_TIMEOUT_SECONDS", "10"))
# The OTLP receiver (POST /v1/logs) takes a log's user id from this attribute: the record's, else the resource's.
OTLP_USER_ID_ATTRIBUTE = os.environ.get("OTLP_USER_ID_ATTRIBUTE", "user.id")
# The archiver renews its per-day lock while it works; a dead holder's lock lapses after this.
ARCHIVE_LOCK_SECONDS = int(os.environ.get("ARCHIVE_LOCK_SECONDS", "300"))
# Parts uploaded and verified at once (each is a few round trips to object storage).
ARCHIVE_UPLOAD_THREADS = int(os.environ.get("ARCHIVE_UPLOAD_THREADS", "4"))
# Archived logs per MongoDB delete command (at most 30,000: archive/purge.py says why).
ARCHIVE_DELETE_BATCH = int(os.environ.get("ARCHIVE_DELETE_BATCH", "30000"))
# Who sorts a day into (user, level) parts for export: "server" (MongoDB walks the
# user_level_time index), "local" (an external sort here, for FerretDB, which uses no
# index), or "auto" (local on FerretDB).
ARCHIVE_EXPORT_SORT = os.environ.get("ARCHIVE_EXPORT_SORT", "auto")

# FerretDB on PostgreSQL: the URL FerretDB was started with (--postgresql-url), so the app can add
# the GIN index FerretDB's own btree indexes cannot replace (docs/ferretdb.md). Empty: nothing to do.
FERRETDB_POSTGRESQL_URL = os.environ.get("FERRETDB_POSTGRESQL_URL", "")
# How the hot source reads a page: "on" walks hour/day buckets newest-first (for FerretDB, which
# pushes only equalities down), "off" sends one query (MongoDB's indexes serve it), "auto": on on FerretDB.
HOT_BUCKET_WALK = os.environ.get("HOT_BUCKET_WALK", "auto")

# Celery: Redis broker. REDIS_URL is the fallback so one variable configures both.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queuing a task (the admin's archive run) fails within seconds when Redis does not answer.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 2}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING below (JSON when LOG_FORMAT=json), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Django's cache: Redis when configured (shared by web and workers), else in-process. The app
# keeps nothing in it today (cold parts are on local disk, archive.cache); state every web
# process must share, such as rate limits, belongs here.
CACHES: dict[str, dict[str, object]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Throttles count here on every API request: a paused Redis fails them (503) in 2 s, not never.
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1000},
        }
    }
# Archive parts pulled for cold reads (archive.cache): a folder on local disk shared by the
# host's processes, and its byte budget (least recently used parts not in use are evicted).
COLD_CACHE_DIR = Path(os.environ.get("COLD_CACHE_DIR", VAR_DIR / "cold-cache"))
COLD_CACHE_MAX_BYTES = int(os.environ.get("COLD_CACHE_MAX_BYTES", str(2 * 2**30)))
# DuckDB, which queries the cached parts (archive.reader): one database per process.
COLD_DUCKDB_THREADS = int(os.environ.get("COLD_DUCKDB_THREADS", "2"))
COLD_DUCKDB_MEMORY_LIMIT = os.environ.get("COLD_DUCKDB_MEMORY_LIMIT", "1GB")
# How long rehydrated logs stay in MongoDB (admin action default; the command takes --hours).
REHYDRATION_HOURS = float(os.environ.get("REHYDRATION_HOURS", "24"))

# Metrics (logsite.metrics): counters shared by all processes in one Redis hash.
METRICS_KEY = os.environ.get("METRICS_KEY", "logretrieval:metrics")
# /metrics answers only requests with `Authorization: Bearer <token>`; required when DEBUG is off.
# With it, /healthz names the failing services' errors (as it does for staff), not only "unavailable".
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
if not METRICS_TOKEN and not DEBUG:
    raise ImproperlyConfigured("METRICS_TOKEN must be set when DEBUG is off.")

# Requests per token (else per user, else per client address) and scope: "<n>/<second|minute|hour|day>",
# or empty for no limit. Past it: 429 with Retry-After. Counted in Django's cache (Redis: all workers).
THROTTLE_RATES = {
    "search": os.environ.get("THROTTLE_SEARCH_RATE", "600/minute"),
    "export": os.environ.get("THROTTLE_EXPORT_RATE", "60/minute"),
    "ingest": os.environ.get("THROTTLE_INGEST_RATE", "3000/minute"),
}
# Threads of one web process that searches and exports may hold at once (0: no limit). The others
# stay free for ingest: a search past the limit is answered 503 with Retry-After at once.
SEARCH_THREADS = int(os.environ.get("SEARCH_THREADS", str(max(1, int(os.environ.get("WEB_THREADS", "4")) - 1))))

# Alerts (alerts/): email goes through Django's backend (console under DEBUG, SMTP otherwise, unless set);
# links in notifications start with ALERTS_SITE_URL; a failed delivery is tried again after
# ALERTS_RETRY_BASE_SECONDS x 2^(attempt - 1), at most ALERTS_MAX_ATTEMPTS times in all.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "alerts@localhost")
ALERTS_SITE_URL = os.environ.get("ALERTS_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALERTS_RETRY_BASE_SECONDS = float(os.environ.get("ALERTS_RETRY_BASE_SECONDS", "30"))
ALERTS_MAX_ATTEMPTS = int(os.environ.get("ALERTS_MAX_ATTEMPTS", "6"))
ALERTS_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ALERTS_WEBHOOK_TIMEOUT_SECONDS", "5"))

# Access control (access/): audit events older than this are pruned daily (beat task access.prune_audit_events).
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "90"))
# Behind a proxy that appends the client's address to X-Forwarded-For: the audit trail records that address.
# Without such a proxy, clients could write any address there, so REMOTE_ADDR is recorded.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "access.tokens.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# /api/schema/ and /api/docs/ without a login (true), or only for logged-in users and tokens (false).
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Log Retrieval API",
    "DESCRIPTION": "Search machine-learning model logs across hot and cold storage.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The five levels are one enum component in the schema, whichever field or parameter lists them.
    "ENUM_NAME_OVERRIDES": {"LevelEnum": "retrieval.query.ALL_LEVELS"},
    "SERVE_PERMISSIONS": ["rest_framework.permissions." + ("AllowAny" if API_DOCS_PUBLIC else "IsAuthenticated")],
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The app's own logs on stderr: LOG_FORMAT=json gives one JSON object a line for
# log collectors (Loki, Elasticsearch, CloudWatch); "text" is for humans.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
