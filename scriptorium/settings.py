"""Settings come from the environment; with none set, the embedded default runs.

Embedded default: SQLite in DATA_DIR and Celery tasks executed in-process, so one
command demonstrates the whole pipeline. Production: DATABASE_URL (Postgres through
psycopg 3), CELERY_BROKER_URL (Redis), SECRET_KEY, DEBUG unset.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _flag("DEBUG")
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
LANGUAGES_DIR = Path(os.environ.get("LANGUAGES_DIR", BASE_DIR / "languages")).resolve()

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=1 for development).")
    SECRET_KEY = "insecure-development-key-only-for-DEBUG"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "scriptorium",
    "curation",
    "synthesis",
    "training",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "curation.middleware.RequestSizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "curation.middleware.ApiTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "curation.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "scriptorium.urls"
WSGI_APPLICATION = "scriptorium.wsgi.application"

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
                "curation.roles.role_context",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "scriptorium.sqlite3",
            # Several demo steps write while a page polls: wait instead of "database is locked".
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "curation-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve straight from the app folders too, so the demo and tests need no collectstatic.
WHITENOISE_USE_FINDERS = True
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Form and JSON bodies are capped by Django (DATA_UPLOAD_MAX_MEMORY_SIZE, file parts not
# counted); a whole request is refused by its Content-Length above REQUEST_MAX_BYTES before
# anything reads it (curation.middleware), which leaves room for a 50 MB benchmark upload.
REQUEST_MAX_BYTES = int(os.environ.get("REQUEST_MAX_BYTES", 64 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Security: cookies and headers. HTTPS-only flags are on unless DEBUG (the embedded demo
# serves plain http on localhost).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _flag("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery. Without a broker, tasks run in-process (the embedded default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
# The longest task (a training job) must finish inside the visibility timeout, or Redis
# redelivers it in a loop (FACTS.md).
TRAINING_TIME_LIMIT = int(os.environ.get("TRAINING_TIME_LIMIT", 6 * 3600))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", 3))

# Every checkpoint a training job registers is evaluated on the language's automatic suites.
EVALUATION_AUTO = _flag("EVALUATION_AUTO", True)
# A queued or running job silent for this long, whose message the broker no longer holds,
# is sent again by the beat sweep; above the longest gap between two progress writes.
REQUEUE_QUIET_SECONDS = float(os.environ.get("REQUEUE_QUIET_SECONDS", 600))

# CPU threads for torch (training and generation). One by default: measured on the
# project's 2-core machines, two threads that share the cores with sandbox runs or other
# jobs slow down 10-15x (OpenMP spin-waiting); raise it on a dedicated box.
TORCH_THREADS = int(os.environ.get("TORCH_THREADS", 1))
os.environ.setdefault("OMP_NUM_THREADS", str(TORCH_THREADS))

# Model backends.
BASE_MODEL = os.environ.get("BASE_MODEL", "")
TEACHER_BASE_URL = os.environ.get("TEACHER_BASE_URL", "")
TEACHER_MODEL = os.environ.get("TEACHER_MODEL", "")
TEACHER_API_KEY = os.environ.get("TEACHER_API_KEY", "")
# Model endpoints on private, loopback or link-local addresses are refused (SSRF) unless
# their host is listed here, e.g. "localhost,gpu-box.internal" for a local vLLM.
ENDPOINT_ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ENDPOINT_ALLOWED_HOSTS", "").split(",") if h.strip()]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
