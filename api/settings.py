"""Settings of Confiotes, read from the environment (see ``api/env.py``).

Embedded default (nothing set): SQLite and a file-system Celery broker under
``CONFIOTES_DATA_DIR`` (``.data/``). Production: ``DATABASE_URL`` (PostgreSQL)
and ``REDIS_URL``. Every integration stays off until its credentials are set.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import dj_database_url

from api.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CONFIOTES_DATA_DIR", str(BASE_DIR / ".data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
(DATA_DIR / "static").mkdir(exist_ok=True)

PRODUCTION = env_bool("CONFIOTES_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)


def _embedded_secret_key() -> str:
    """A random key kept in the data folder, so sessions survive restarts of a local run."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# In production the key must be given: a generated one would differ between machines.
SECRET_KEY = env_str("DJANGO_SECRET_KEY") if PRODUCTION else env_str("DJANGO_SECRET_KEY", "") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"] if not PRODUCTION else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api.common",
    "api.contacts",
    "api.orders",
    "api.campaigns",
    "api.nurture",
    "api.attribution",
    # The staff back office under /app/: templates and htmx on the apps' services and selectors.
    "django_htmx",
    "api.backoffice",
]

MIDDLEWARE = [
    # First: an oversize body is a 413 before anything reads it (api/common/middleware.py).
    "api.common.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # French by default under /app/ only: the REST API keeps its English messages whatever the
    # Accept-Language header says, so a global LocaleMiddleware is not used.
    "api.backoffice.middleware.BackofficeLocaleMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "api.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'confiotes.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
# Every request is one transaction: a request that ends in a 4xx or 5xx changes nothing.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
IS_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
if IS_SQLITE:
    # Web, worker and beat share one SQLite file: WAL lets readers and one writer work
    # side by side, IMMEDIATE makes writers queue on the lock instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that a real Celery worker started by a test sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # One test database per test process, so that concurrent runs on one server do not collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
# Part of every cached weekly report's key (api/attribution/selectors.py): the tests give each test its
# own, since their rolled-back rows give the next test the same ids and counts.
REPORT_CACHE_SCOPE = ""

CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "api.common.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Under pytest each run has its own prefix, so runs sharing one Redis do not mix keys.
            "KEY_PREFIX": f"test-{os.getpid()}" if "pytest" in sys.modules else "confiotes",
        }
    }
else:
    # A file cache is shared by the web, worker and beat processes of a local run.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            # Django's default (300 files) is less than the weekly report's parts of a few weeks and
            # models: past it each write deletes a random third of the files, the report just stored
            # among them. Each write lists the folder to count, so not unbounded either.
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }

CELERY_TASK_DEFAULT_QUEUE = env_str("CONFIOTES_CELERY_QUEUE", "confiotes")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    BROKER_DIR = DATA_DIR / "broker"
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        # kombu keeps exchange bindings in ./control by default: keep them in the data folder.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_BEAT_SCHEDULE_FILE = str(DATA_DIR / "celerybeat-schedule")

# --- Auth, REST framework, OpenAPI --------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# A body other than an upload: Django's default, said here because RequestSizeLimitMiddleware enforces it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The files of one upload (the contact import's CSV), counted while they stream (api/common/parsers.py).
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 50 * 1024 * 1024)

REST_FRAMEWORK = {
    # Token first: an unauthenticated request then gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.common.permissions.IsStaff"],
    "DEFAULT_PAGINATION_CLASS": "api.common.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.common.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, with bounded nesting; an upload endpoint declares api.common.parsers.UploadMultiPartParser.
    # One body type per endpoint is also what the spec declares (generated clients sent all three at once).
    "DEFAULT_PARSER_CLASSES": ["api.common.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {"partner": env_str("PARTNER_THROTTLE_RATE", "600/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Confiotes API",
    "DESCRIPTION": (
        "Marketing back office of Confiotes, a maker of syrups, liqueurs and gift boxes made in Cameroon: "
        "contacts, campaigns, orders, nurture and attribution. Staff authenticate with "
        "`Authorization: Token <key>`; partner resellers with `Authorization: Api-Key <key>`. "
        "Every error has the shape `{code, message, errors: [{field, code, message}]}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.common.schema.add_error_responses",
        "api.common.schema.exclusive_blank_alternatives",
        "api.common.schema.check_component_names",
    ],
    # Stable names for choice sets whose field names (``status``, ``state``, ``kind``) recur across
    # apps; drf-spectacular would otherwise suffix them with a hash and warn.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "api.orders.models.OrderStatus",
        "PaymentMethodEnum": "api.orders.models.PaymentMethod",
        "PaymentStatusEnum": "api.orders.models.PaymentStatus",
        "ComplaintStateEnum": "api.orders.models.ComplaintState",
        "WebhookDeliveryStateEnum": "api.orders.models.DeliveryState",
        "ProductKindEnum": "api.orders.models.ProductKind",
        "CatalogTierEnum": "api.orders.models.Tier",
        "ChannelEnum": "api.contacts.models.Channel",
        "SegmentEnum": "api.contacts.models.Segment",
        "LifecycleStageEnum": "api.contacts.models.LifecycleStage",
        "FollowUpTaskKindEnum": "api.contacts.models.FollowUpTaskKind",
        "ContactIdentityKindEnum": "api.contacts.models.ContactIdentityKind",
        "ImportJobStatusEnum": "api.contacts.models.ImportJobStatus",
        "CampaignChannelEnum": "api.campaigns.models.CampaignChannel",
        "CampaignObjectiveEnum": "api.campaigns.models.CampaignObjective",
        "CampaignStatusEnum": "api.campaigns.models.CampaignStatus",
        "CostKindEnum": "api.campaigns.models.CostKind",
        "FixedCostKindEnum": "api.campaigns.models.FixedCostKind",
        "CouponKindEnum": "api.campaigns.models.CouponKind",
        "CostSourceEnum": "api.campaigns.models.CostSource",
        "TouchpointKindEnum": "api.campaigns.models.TouchpointKind",
        "TouchpointChannelEnum": "api.campaigns.models.TOUCHPOINT_CHANNELS",
        "CaptureKindEnum": "api.campaigns.models.CAPTURE_KINDS",
    },
    # The ``id`` path converter of api/orders/urls.py: an integer that fits 64 bits.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}},
}

# --- Internationalisation and time --------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
# The back office's language when the staff member has not picked one (the language cookie).
BACKOFFICE_LANGUAGE_CODE = "fr"
TIME_ZONE = "Africa/Douala"
USE_I18N = True
USE_TZ = True
BUSINESS_TIME_ZONE = "Africa/Douala"
DEFAULT_PHONE_REGION = "CM"

# --- Back office sign-in ---------------------------------------------------------------
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"
LOGOUT_REDIRECT_URL = "backoffice:login"

# --- Static files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Serve the apps' static files (Swagger UI and Redoc from the sidecar) without a
# collectstatic step on a local run; production images run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Workers ----------------------------------------------------------------------
# A worker whose last heartbeat is older than this is reported as down by /api/v1/health.
WORKER_HEARTBEAT_INTERVAL_SECONDS = env_int("WORKER_HEARTBEAT_INTERVAL_SECONDS", 30)
WORKER_STALE_AFTER_SECONDS = env_int("WORKER_STALE_AFTER_SECONDS", 120)
# Daily backups (manage.py backup, beat): the newest copy of each of the last N days that have one is kept.
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 7)

# --- Integrations: off until configured --------------------------------------------
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN", "")
TELEGRAM_BOT_USERNAME = env_str("TELEGRAM_BOT_USERNAME", "ConfiotesBot")
TELEGRAM_API_BASE_URL = env_str("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
TELEGRAM_WEBHOOK_SECRET = env_str("TELEGRAM_WEBHOOK_SECRET", "")
TELEGRAM_STAFF_CHAT_ID = env_str("TELEGRAM_STAFF_CHAT_ID", "")
TELEGRAM_GLOBAL_RATE_PER_SECOND = env_float("TELEGRAM_GLOBAL_RATE_PER_SECOND", 30.0)
TELEGRAM_PER_CHAT_RATE_PER_SECOND = env_float("TELEGRAM_PER_CHAT_RATE_PER_SECOND", 1.0)

META_GRAPH_BASE_URL = env_str("META_GRAPH_BASE_URL", "https://graph.facebook.com")
# The WhatsApp Cloud API is served by the Graph API host; set this only to reach it elsewhere (a proxy,
# or the benchmark's fake WhatsApp beside a fake Messenger). Empty: META_GRAPH_BASE_URL.
WHATSAPP_API_BASE_URL = env_str("WHATSAPP_API_BASE_URL", "")
META_APP_SECRET = env_str("META_APP_SECRET", "")
META_VERIFY_TOKEN = env_str("META_VERIFY_TOKEN", "")
META_ACCESS_TOKEN = env_str("META_ACCESS_TOKEN", "")
META_PAGE_ID = env_str("META_PAGE_ID", "")
META_PAGE_ACCESS_TOKEN = env_str("META_PAGE_ACCESS_TOKEN", "")
META_PAGE_USERNAME = env_str("META_PAGE_USERNAME", "confiotes")
META_AD_ACCOUNT_ID = env_str("META_AD_ACCOUNT_ID", "")
WHATSAPP_ACCESS_TOKEN = env_str("WHATSAPP_ACCESS_TOKEN", "")
WHATSAPP_PHONE_NUMBER_ID = env_str("WHATSAPP_PHONE_NUMBER_ID", "")
# The WhatsApp Business Account (WABA) whose message templates are read (api/nurture/services/templates.py).
WHATSAPP_BUSINESS_ACCOUNT_ID = env_str("WHATSAPP_BUSINESS_ACCOUNT_ID", "")
WHATSAPP_BUSINESS_NUMBER = env_str("WHATSAPP_BUSINESS_NUMBER", "+237690000000")

PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# Partner webhooks must not reach internal addresses; tests allow loopback only.
PARTNER_WEBHOOKS_ALLOW_LOOPBACK = env_bool("PARTNER_WEBHOOKS_ALLOW_LOOPBACK", False)
# Each order change asks a worker to send its webhook at once (beat's 10 s tick is the fallback).
PARTNER_WEBHOOKS_KICK = env_bool("PARTNER_WEBHOOKS_KICK", True)

# --- Logging: secrets are scrubbed from every record --------------------------------
SECRET_SETTING_NAMES = [
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "META_ACCESS_TOKEN",
    "META_PAGE_ACCESS_TOKEN",
    "WHATSAPP_ACCESS_TOKEN",
    "SECRET_KEY",
]
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_secrets": {"()": "api.common.logging.ScrubSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["scrub_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
