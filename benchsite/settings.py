"""Settings, read from the environment. With no variables: SQLite, eager Celery, in-memory channels."""
from __future__ import annotations

from pathlib import Path

import dj_database_url
import psutil
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from benchsite.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BENCHSITE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEV_SECRET_KEY = "dev-insecure-change-me"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", True)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    # The development key is public (it is in this file): sessions, password resets and CSRF tokens signed with it
    # could be forged, so production refuses to start without its own.
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "csp",
    "channels",
    "evaluations",
    "leaderboard",
    "community",
    "recommender",
    "costing",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before CommonMiddleware (Django's documented place): picks the language from the
    # set_language cookie, else Accept-Language. URLs carry no language prefix (see LANGUAGES below).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Security headers and cookies (README: Security). Each default is the production one when DEBUG is off and the
# development one when it is on (make demo, the test suite); every one can be set from the environment.
# `DJANGO_DEBUG=0 DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=... manage.py check --deploy --fail-level WARNING` passes
# with nothing else set (tests/operations/test_security.py).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer probes /healthz over plain HTTP inside the network; a redirect would read as down.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# The header alone lists nobody; it only consents to a submission to the browsers' preload list (hstspreload.org).
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
# Only behind a proxy that always sets this header itself (and drops a client's): "HTTP_X_FORWARDED_PROTO=https".
# Anywhere else a client could send it and pass for HTTPS, so it is off unless set.
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    _name, _, _value = _proxy_ssl_header.partition("=")
    if not _name.startswith("HTTP_") or not _value:
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO=https, got {_proxy_ssl_header!r}")
    SECURE_PROXY_SSL_HEADER = (_name, _value)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
# Origins (scheme://host) allowed to POST besides the request's own host, e.g. behind a proxy that rewrites Host.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp), on in development too so the browser tests see what production sends.
# Scripts only from this site: HTMX and plotly.js are static files, charts are JSON blocks drawn by
# static/js/charts.js (benchsite.plots), so no inline script runs; an inline one would need
# nonce="{{ request.csp_nonce }}". Styles allow 'unsafe-inline', the one exception: plotly.js writes its rules into a
# <style> element and sets style attributes on its SVG at run time (its no-inline-styles mode needs a plotly.css the
# Python package does not ship), and HTMX inserts its indicator style. Inline style cannot run code.
# 'self' covers ws:/wss: to the same host for the live pages. Redoc's search runs in a blob: worker.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": [],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "benchsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "benchsite.wsgi.application"
ASGI_APPLICATION = "benchsite.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0)
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out login stops before any password is checked (community/backends.py says why a subclass).
    "community.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
SITE_ID = 1
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# Sign-up sends a confirmation link (through EMAIL_BACKEND); login waits for it.
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[benchsite] "
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL = "/accounts/profile/"
# Console in development (the confirmation link is printed by the server); smtp etc. through the environment.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "benchsite <noreply@localhost>")
# django-axes: this many failed logins from one address lock it out for AXES_COOLOFF_TIME hours.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_HOURS", 1)
AXES_LOCKOUT_TEMPLATE = "account/lockout.html"
AXES_USERNAME_FORM_FIELD = "login"  # allauth's login form
AXES_RESET_ON_SUCCESS = True

LANGUAGE_CODE = "en"
# Chosen by the switcher's cookie or the browser's Accept-Language, not by a URL prefix: every link, API
# path and bookmark stays the same in each language. locale/ holds the German catalogue, .po and .mo both
# committed so the site needs no gettext tools to run (README: Languages).
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing

REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With Redis, a message a dead worker had taken comes back after this many seconds; shards are short.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("BENCHSITE_VISIBILITY_TIMEOUT", 900)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_IGNORE_RESULT = True
BENCHSITE_SWEEP_SECONDS = env_int("BENCHSITE_SWEEP_SECONDS", 30)
# /healthz gives Redis this long to connect and answer PING: a dead one must not hang the load balancer's probe.
BENCHSITE_HEALTH_TIMEOUT_S = float(env_str("BENCHSITE_HEALTH_TIMEOUT_S", "1"))
CELERY_BEAT_SCHEDULE = {
    "workers-mark-stale": {"task": "evaluations.tasks.workers_mark_stale", "schedule": 30.0},
    "shards-requeue-stale": {
        "task": "evaluations.tasks.shards_requeue_stale",
        "schedule": float(BENCHSITE_SWEEP_SECONDS),
    },
    # Submissions follow their runs (finished, failed) and approved ones left unqueued are queued again.
    "submissions-follow-runs": {"task": "community.tasks.submissions_sweep", "schedule": 30.0},
}

CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

REST_FRAMEWORK = {
    # drf-spectacular's, plus the 4xx answers each operation can give (leaderboard/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "leaderboard.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # Anonymous callers by address, signed-in ones by user; "submissions" is the scope of future writes.
    "DEFAULT_THROTTLE_CLASSES": [
        "leaderboard.api.throttling.AnonThrottle",
        "leaderboard.api.throttling.UserThrottle",
        "leaderboard.api.throttling.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "600/min"),
        "submissions": env_str("API_THROTTLE_SUBMISSIONS", "20/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "benchsite API",
    "VERSION": "0.1.0",
    # The docs page's scripts come from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three models have a "state" field with different choices: name each set, so the schema's enums are stable
    # (and check --deploy, which fails on warnings, passes).
    "ENUM_NAME_OVERRIDES": {
        "SubmissionStateEnum": "community.models.SubmissionState",
        "FlagStateEnum": "community.models.ModelFlag.State",
        "BenchmarkSubmissionStateEnum": "community.models.BenchmarkSubmission.State",
    },
}

# Where benchmark data is read from first (files in their original formats); see runner/datasets.py.
BENCHSITE_DATA_DIR = env_str("BENCHSITE_DATA_DIR")
BENCHSITE_SAMPLE_PAGE_SIZE = env_int("BENCHSITE_SAMPLE_PAGE_SIZE", 50)
BENCHSITE_SHARD_SIZE = env_int("BENCHSITE_SHARD_SIZE", 50)
# Synthetic models and runs (`manage.py seed_scale`) are shown only where this is on: a scale benchmark's
# own database (bench/web_scale.py), never a real board.
BENCHSITE_SHOW_SYNTHETIC = env_bool("BENCHSITE_SHOW_SYNTHETIC", False)
# The recommender resamples at most this many models that meet the limits (the best by stored scores).
BENCHSITE_RECOMMEND_MAX_CANDIDATES = env_int("BENCHSITE_RECOMMEND_MAX_CANDIDATES", 200)
BENCHSITE_LEADERBOARD_PAGE_SIZE = env_int("BENCHSITE_LEADERBOARD_PAGE_SIZE", 100)
# Adaptive runs (--adaptive): stop a benchmark once its 95% CI half-width is at most this many points
# (of 100), never before the floor of items.
BENCHSITE_ADAPTIVE_EPSILON_POINTS = float(env_str("BENCHSITE_ADAPTIVE_EPSILON_POINTS", "1.5"))
BENCHSITE_ADAPTIVE_FLOOR = env_int("BENCHSITE_ADAPTIVE_FLOOR", 100)
BENCHSITE_MAX_DELIVERIES = env_int("BENCHSITE_MAX_DELIVERIES", 3)
BENCHSITE_SHARD_SOFT_TIME_LIMIT = env_int("BENCHSITE_SHARD_SOFT_TIME_LIMIT", 1800)
BENCHSITE_HEARTBEAT_SECONDS = env_int("BENCHSITE_HEARTBEAT_SECONDS", 10)
BENCHSITE_SHARD_STALE_SECONDS = env_int("BENCHSITE_SHARD_STALE_SECONDS", 120)
BENCHSITE_GPU_AVAILABLE = env_bool("BENCHSITE_GPU_AVAILABLE", False)
# Code-execution benchmarks (HumanEval, MBPP) run model-written programs in runner.sandbox; off unless asked.
BENCHSITE_CODE_EXECUTION = env_bool("BENCHSITE_CODE_EXECUTION", False)
BENCHSITE_SANDBOX_TIMEOUT_S = float(env_str("BENCHSITE_SANDBOX_TIMEOUT_S", "10"))
BENCHSITE_SANDBOX_MEMORY_MB = env_int("BENCHSITE_SANDBOX_MEMORY_MB", 1024)
# grams of CO2 per kWh for the carbon figure of a run (world average electricity, Ember 2024: ~480).
BENCHSITE_GRID_CARBON_G_PER_KWH = float(env_str("BENCHSITE_GRID_CARBON_G_PER_KWH", "480"))
# Rated CPU power for energy estimates where neither NVML nor RAPL can measure (0: runner.perf's default).
BENCHSITE_CPU_RATED_WATTS = float(env_str("BENCHSITE_CPU_RATED_WATTS", "0")) or None
# Every evaluation run keeps a performance record: its shards sampled at this interval, then this many
# requests streamed through the loaded model (0: none) for time to first token and inter-token latency.
BENCHSITE_RUN_SAMPLE_INTERVAL_S = float(env_str("BENCHSITE_RUN_SAMPLE_INTERVAL_S", "0.5"))
BENCHSITE_RUN_PROBE_REQUESTS = env_int("BENCHSITE_RUN_PROBE_REQUESTS", 3)
BENCHSITE_RUN_PROBE_NEW_TOKENS = env_int("BENCHSITE_RUN_PROBE_NEW_TOKENS", 32)
# A finished run alerts when its paired interval against the previous run excludes a drop of this many points.
BENCHSITE_REGRESSION_DELTA_POINTS = float(env_str("BENCHSITE_REGRESSION_DELTA_POINTS", "1"))
BENCHSITE_WEBHOOK_TIMEOUT_S = float(env_str("BENCHSITE_WEBHOOK_TIMEOUT_S", "5"))
# The ed25519 key that signs run manifests (evaluations.manifests); generated here on first use, never committed.
BENCHSITE_SIGNING_KEY = env_str("BENCHSITE_SIGNING_KEY", str(VAR_DIR / "signing" / "ed25519.pem"))
# Hardware classes: queue name -> memory in GiB. "cpu" defaults to this machine's RAM.
BENCHSITE_QUEUES = {
    name: int(float(gib) * 1024**3)
    for name, gib in (
        item.split("=")
        for item in env_list(
            "BENCHSITE_QUEUES", [f"cpu={psutil.virtual_memory().total / 1024**3:.1f}", "gpu-24gb=24", "gpu-80gb=80"]
        )
    )
}

# Model submissions (community): uploads are streamed under this folder and capped; each person may make
# BENCHSITE_SUBMISSION_QUOTA submissions per rolling BENCHSITE_SUBMISSION_QUOTA_DAYS days; approved ones are
# evaluated on this suite (runner.suites). Moderators: staff and members of this group.
BENCHSITE_UPLOAD_DIR = Path(env_str("BENCHSITE_UPLOAD_DIR", str(VAR_DIR / "uploads")))
BENCHSITE_UPLOAD_MAX_BYTES = env_int("BENCHSITE_UPLOAD_MAX_BYTES", 20 * 1024**3)
BENCHSITE_SUBMISSION_QUOTA = env_int("BENCHSITE_SUBMISSION_QUOTA", 5)
BENCHSITE_SUBMISSION_QUOTA_DAYS = env_int("BENCHSITE_SUBMISSION_QUOTA_DAYS", 7)
BENCHSITE_SUBMISSION_SUITE = env_str("BENCHSITE_SUBMISSION_SUITE", "demo")
BENCHSITE_MODERATOR_GROUP = env_str("BENCHSITE_MODERATOR_GROUP", "moderators")
# The largest custom benchmark data file accepted from the website or the API.
BENCHSITE_BENCHMARK_MAX_BYTES = env_int("BENCHSITE_BENCHMARK_MAX_BYTES", 50 * 1024 * 1024)
# Endpoints on loopback or private addresses are refused (the workers would call them) unless allowed.
BENCHSITE_ALLOW_PRIVATE_ENDPOINTS = env_bool("BENCHSITE_ALLOW_PRIVATE_ENDPOINTS", DEBUG)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
