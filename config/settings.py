"""Settings, read from the environment through django-environ.

With no environment at all this is the embedded default: a SQLite file, the in-memory
channel layer and the sandbox marketplace served in-process. A real deployment sets
``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DEBUG=False`` and
``MARKETPLACE=live`` with provider credentials. Every variable is listed in ``.env.example``.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=False.")
    SECRET_KEY = "django-insecure-local-only-seller-scout"

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks_db",
    "collection",
    "activity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time; WAL lets the web process read while a run writes, and
    # IMMEDIATE transactions queue writers instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    # Redis pub/sub rather than channels-redis' core layer: a frame is one PUBLISH (the
    # core layer's group_send is four round trips) pushed to every subscribed process,
    # whose consumers read it from a local queue (the core layer polls with BZPOPMIN and
    # wakes every local consumer through a lock). Nothing is kept for an absent process,
    # which is what the pages already assume (at most once; a gap is replayed from the
    # database). bench/fanout.py, 100 pages: see bench/README.md, figure 3.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # After a Redis restart the pool's connections are dead; without a retry
                        # each one fails its next command (a frame not published). Retry on a
                        # fresh connection instead. (The subscriber reconnects and subscribes
                        # again by itself: redis-py's PubSub.on_connect.)
                        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                        "retry_on_error": [RedisConnectionError],
                    }
                ],
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

LOGIN_URL = "admin:login"
# The dropshipper leaderboard. (The admin's own login form sends a user without ``next``
# to the admin index; every page of ours passes ``next``.)
LOGIN_REDIRECT_URL = "activity:leaderboard"

# Content-Security-Policy on every response (Django 6 built-in). No inline scripts.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "collection": {"level": env.str("COLLECTION_LOG_LEVEL", default="INFO")},
        "activity": {"level": env.str("COLLECTION_LOG_LEVEL", default="INFO")},
    },
}

# --- Marketplaces -----------------------------------------------------------------------
# "sandbox": the emulator, served in-process through httpx.ASGITransport (no network).
# "live": the real clients against the base URLs below (production, eBay's sandbox, or a
# local `manage.py sandbox_marketplace` server).
MARKETPLACE = env.str("MARKETPLACE", default="sandbox")
AMAZON_PROVIDER = env.str("AMAZON_PROVIDER", default="oxylabs")
EBAY_PROVIDER = env.str("EBAY_PROVIDER", default="browse")
OXYLABS_USERNAME = env.str("OXYLABS_USERNAME", default="")
OXYLABS_PASSWORD = env.str("OXYLABS_PASSWORD", default="")
OXYLABS_BASE_URL = env.str("OXYLABS_BASE_URL", default="https://realtime.oxylabs.io")
EBAY_CLIENT_ID = env.str("EBAY_CLIENT_ID", default="")
EBAY_CLIENT_SECRET = env.str("EBAY_CLIENT_SECRET", default="")
EBAY_API_BASE_URL = env.str("EBAY_API_BASE_URL", default="https://api.ebay.com")
EBAY_MARKETPLACE_ID = env.str("EBAY_MARKETPLACE_ID", default="EBAY_US")

# The sandbox marketplace's knobs (used in-process, and as defaults of the
# `sandbox_marketplace` command).
SANDBOX_SEED = env.int("SANDBOX_SEED", default=1)
SANDBOX_LATENCY_MS = env.float("SANDBOX_LATENCY_MS", default=0.0)
SANDBOX_LATENCY_JITTER_MS = env.float("SANDBOX_LATENCY_JITTER_MS", default=0.0)
SANDBOX_RATE_LIMIT_RPS = env.float("SANDBOX_RATE_LIMIT_RPS", default=0.0)  # 0 = off
SANDBOX_ERROR_RATE = env.float("SANDBOX_ERROR_RATE", default=0.0)
SANDBOX_TIMEOUT_RATE = env.float("SANDBOX_TIMEOUT_RATE", default=0.0)
SANDBOX_MALFORMED_RATE = env.float("SANDBOX_MALFORMED_RATE", default=0.0)
SANDBOX_HOSTILE = env.bool("SANDBOX_HOSTILE", default=False)

# --- Collection engine ------------------------------------------------------------------
COLLECTION_WORKERS = env.int("COLLECTION_WORKERS", default=5)
COLLECTION_AMAZON_PAGES = env.int("COLLECTION_AMAZON_PAGES", default=1)
COLLECTION_EBAY_PAGES = env.int("COLLECTION_EBAY_PAGES", default=1)
# eBay calls per product page: the first query, then fallbacks only when it finds too little.
COLLECTION_EBAY_QUERIES = env.int("COLLECTION_EBAY_QUERIES", default=2)
COLLECTION_MARKUP_MIN_PERCENT = env.float("COLLECTION_MARKUP_MIN_PERCENT", default=80.0)
COLLECTION_MARKUP_MAX_PERCENT = env.float("COLLECTION_MARKUP_MAX_PERCENT", default=120.0)
COLLECTION_RETRY_MAX = env.int("COLLECTION_RETRY_MAX", default=5)  # attempts per task
COLLECTION_RETRY_BASE_DELAY = env.float("COLLECTION_RETRY_BASE_DELAY", default=0.5)
COLLECTION_RETRY_MAX_DELAY = env.float("COLLECTION_RETRY_MAX_DELAY", default=30.0)
COLLECTION_MAX_CONSECUTIVE_FAILURES = env.int("COLLECTION_MAX_CONSECUTIVE_FAILURES", default=5)
COLLECTION_LEASE_SECONDS = env.int("COLLECTION_LEASE_SECONDS", default=60)
COLLECTION_HEARTBEAT_SECONDS = env.float("COLLECTION_HEARTBEAT_SECONDS", default=5.0)
COLLECTION_BATCH_SIZE = env.int("COLLECTION_BATCH_SIZE", default=200)  # tasks per flush
COLLECTION_FLUSH_SECONDS = env.float("COLLECTION_FLUSH_SECONDS", default=0.5)
# When a known seller's listing counters, last seen and feedback move (PostgreSQL store):
# per_batch = with every batch that sees them (exact at every commit); per_run = staged
# by each batch and settled when the run stops (faster ingest; until then these columns
# and the run's sellers_found lag for sellers known before the batch).
COLLECTION_SELLER_COUNTERS = env.str("COLLECTION_SELLER_COUNTERS", default="per_batch")
if COLLECTION_SELLER_COUNTERS not in ("per_batch", "per_run"):
    raise ImproperlyConfigured(
        "COLLECTION_SELLER_COUNTERS must be per_batch or per_run, "
        f"not {COLLECTION_SELLER_COUNTERS!r}"
    )
# A flush also starts once this many rows (listings, best sellers) wait (or fewer: an equal
# share of ROWS_IN_FLIGHT for each batch being stored and the one filling); at most
# ROWS_IN_FLIGHT rows are held (waiting plus being stored): past it, workers wait before
# their next request (back-pressure), so a run's memory does not grow with its size.
COLLECTION_BATCH_ROWS = env.int("COLLECTION_BATCH_ROWS", default=5_000)
COLLECTION_ROWS_IN_FLIGHT = env.int("COLLECTION_ROWS_IN_FLIGHT", default=10_000)
# Batches one process stores at once (PostgreSQL), each on a thread and connection of its
# own: the next batch is prepared, its tasks marked and its sellers looked up while the one
# before holds the seller section. 1 = one batch after the other; SQLite always stores one.
COLLECTION_STORES_IN_FLIGHT = env.int("COLLECTION_STORES_IN_FLIGHT", default=2)
COLLECTION_HTTP_TIMEOUT = env.float("COLLECTION_HTTP_TIMEOUT", default=30.0)
COLLECTION_AMAZON_HTTP_TIMEOUT = env.float("COLLECTION_AMAZON_HTTP_TIMEOUT", default=165.0)
# Requests per second per provider; 0 = unlimited.
COLLECTION_RATE_LIMITS = env.dict(
    "COLLECTION_RATE_LIMITS", cast={"value": float}, default={"oxylabs": 40.0, "ebay": 0.0}
)
COLLECTION_MAX_ACTIVE_RUNS = env.int("COLLECTION_MAX_ACTIVE_RUNS", default=3)
# Processes one run spreads over (run_collection --processes, a db_worker starting a run):
# at most this many, default the cores this process may use. 1 keeps every run in one.
COLLECTION_MAX_PROCESSES_PER_RUN = env.int(
    "COLLECTION_MAX_PROCESSES_PER_RUN",
    default=(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    or 1,
)
# How run_collection and a db_worker start a run's joiners: "fork" (the default) forks them
# when this process is single-threaded, so they start with Django loaded (~0 s instead of
# ~1 s of CPU each) and share its memory pages; "spawn" always starts a new interpreter.
COLLECTION_JOINER_START = env.str("COLLECTION_JOINER_START", default="fork")
# An orphaned run (its process died) is re-queued automatically at most this many times.
COLLECTION_MAX_AUTO_RESUMES = env.int("COLLECTION_MAX_AUTO_RESUMES", default=5)
# Seconds between two scheduler ticks (due schedules, orphaned and stranded runs).
COLLECTION_SCHEDULER_SECONDS = env.float("COLLECTION_SCHEDULER_SECONDS", default=10.0)
# True when runs execute in another process than the web server (db_worker,
# run_collection): events must then cross processes through Redis (check activity.E001).
# The embedded default (`./dev serve`) runs its worker inside the web process.
COLLECTION_RUNS_OUT_OF_PROCESS = env.bool("COLLECTION_RUNS_OUT_OF_PROCESS", default=not DEBUG)

# --- Live activity ----------------------------------------------------------------------
ACTIVITY_FRAME_SECONDS = env.float("ACTIVITY_FRAME_SECONDS", default=0.1)
# A busy run sends a frame as soon as this many events wait (at most 4 frames per
# ACTIVITY_FRAME_SECONDS): every page's copy of a frame is sent and parsed in turn, so the
# last page waits in proportion to the frame's size (bench/fanout.py).
ACTIVITY_FRAME_EVENTS = env.int("ACTIVITY_FRAME_EVENTS", default=25)
# A run's status and counters (run list, progress bar) at most this often per process.
ACTIVITY_STATUS_SECONDS = env.float("ACTIVITY_STATUS_SECONDS", default=0.5)

# --- Quotas -----------------------------------------------------------------------------
# Requests each provider allows per window, counted from the requests actually sent
# (collection.quota_windows). Syntax: "provider=LIMIT/day[@RESET_HOUR_UTC]" or
# "provider=LIMIT/month[@RESET_DAY]", comma-separated, e.g. "ebay=5000/day@0,oxylabs=98000/month@1"
# (eBay Browse: 5,000 calls/day by default; Oxylabs Micro: 98,000 results/month). Requests per
# second are COLLECTION_RATE_LIMITS. The sandbox is not metered unless this is set.


def _quotas_parse(text: str) -> dict[str, dict[str, int]]:
    """``ebay=5000/day@0,oxylabs=98000/month@1`` → ``{"ebay": {"per_day": 5000, ...}}``."""
    quotas: dict[str, dict[str, int]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            provider, rule = (s.strip() for s in item.split("=", 1))
            amount, _, period_reset = rule.partition("/")
            period, _, reset = period_reset.partition("@")
            limit = int(amount)
            if period == "day":
                hour = int(reset or 0)
                if not 0 <= hour <= 23:
                    raise ValueError
                quotas[provider] = {"per_day": limit, "reset_hour_utc": hour}
            elif period == "month":
                day = int(reset or 1)
                if not 1 <= day <= 28:
                    raise ValueError
                quotas[provider] = {"per_month": limit, "reset_day": day}
            else:
                raise ValueError
            if limit < 0 or not provider:
                raise ValueError
        except ValueError:
            raise ImproperlyConfigured(
                f"COLLECTION_QUOTAS: cannot read {item!r}; write provider=LIMIT/day[@HOUR] "
                "or provider=LIMIT/month[@DAY], e.g. ebay=5000/day@0,oxylabs=98000/month@1."
            ) from None
    return quotas


COLLECTION_QUOTAS = _quotas_parse(
    env.str(
        "COLLECTION_QUOTAS",
        default="ebay=5000/day@0,oxylabs=98000/month@1" if MARKETPLACE == "live" else "",
    )
)
# When > 0, every quota window is this many seconds, aligned on the Unix epoch (a fast
# emulated day for tests and demos, matching the sandbox's `day_seconds`).
COLLECTION_QUOTA_WINDOW_SECONDS = env.float("COLLECTION_QUOTA_WINDOW_SECONDS", default=0.0)
# Requests reserved from the shared counter at a time by each process (fewer DB round trips;
# a process killed without closing leaves at most this many counted but unsent).
COLLECTION_QUOTA_BLOCK = env.int("COLLECTION_QUOTA_BLOCK", default=16)
# The sandbox's emulated Browse quota: calls per emulated day (0 = off) and the day's length
# in seconds (days aligned on the epoch, like COLLECTION_QUOTA_WINDOW_SECONDS).
SANDBOX_DAILY_QUOTA = env.int("SANDBOX_DAILY_QUOTA", default=0)
SANDBOX_DAY_SECONDS = env.float("SANDBOX_DAY_SECONDS", default=86400.0)
