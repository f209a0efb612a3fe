"""FitFlow settings shared by every environment.

Everything is declared here; `local`, `test` and `production` only change what
differs, and production differs only through environment variables (listed in
`.env.example`). Values are read with django-environ.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core --------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Gyms live on subdomains of FITFLOW_BASE_DOMAIN, so hosts are matched by suffix.
FITFLOW_BASE_DOMAIN = env("FITFLOW_BASE_DOMAIN", default="localhost")
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=[FITFLOW_BASE_DOMAIN, f".{FITFLOW_BASE_DOMAIN}", "testserver", "127.0.0.1"],
)
# Scheme used when FitFlow builds a link to another host (signup -> gym dashboard).
FITFLOW_URL_SCHEME = env("FITFLOW_URL_SCHEME", default="http")
# Port of links built outside a request (emails sent by Celery); empty = the scheme's default.
# `make run` sets it to its port so demo emails link to :8000.
FITFLOW_URL_PORT = env("FITFLOW_URL_PORT", default="")
# Subdomains a gym may not take: they are ours or would confuse members.
FITFLOW_RESERVED_SUBDOMAINS = env.list(
    "FITFLOW_RESERVED_SUBDOMAINS",
    default=[
        "www",
        "api",
        "admin",
        "public",
        "static",
        "media",
        "app",
        "mail",
        "smtp",
        "ftp",
        "help",
        "support",
        "status",
        "docs",
        "blog",
        "billing",
        "login",
        "signup",
        "accounts",
        "dashboard",
        "ws",
        "cdn",
        "assets",
        "demo-template",
        "fitflow",
        "template",
        "test",
        "localhost",
        "pg",
        "postgres",
        "information",
    ],
)

# --- Tenancy (django-tenants) --------------------------------------------------
# SHARED_APPS live in the public schema: gyms, domains, global identities, platform tools.
SHARED_APPS = [
    "django_tenants",  # schema routing; must be first
    "apps.tenants",  # Gym (the tenant) and Domain
    "apps.accounts",  # the global User, login by email
    "django.contrib.contenttypes",  # one content-type table, in public
    "django.contrib.auth",  # permissions for the platform super-admin
    "django.contrib.sessions",  # sessions (cookies are per host, see SESSION_COOKIE_DOMAIN)
    "django.contrib.messages",  # flash messages
    "django.contrib.staticfiles",  # static files
    "django.contrib.admin",  # super-admin on the public host; also in TENANT_APPS for the gym admin log
    "django.contrib.humanize",  # template filters
    "allauth",  # login, logout, password reset, email verification
    "allauth.account",  # email addresses of global users
    "allauth.mfa",  # TOTP and recovery codes
    "rest_framework",  # the REST API
    "rest_framework_simplejwt.token_blacklist",  # refresh-token rotation and revocation
    "drf_spectacular",  # OpenAPI schema and Swagger UI
    "django_htmx",  # request.htmx
    "template_partials",  # {% partialdef %}
    "django_countries",  # ISO 3166 country field on Gym
    "phonenumber_field",  # E.164 phone numbers
    "django_filters",  # API filtering
    "django.contrib.postgres",  # ArrayField, GIN indexes, trigram search
    "django_celery_beat",  # periodic task schedule, one beat for the platform
    "channels",  # websockets (live occupancy, check-in feed)
    "health_check",  # /health/
    "apps.core",  # error pages, API error format, health view, shared templates
    "djstripe",  # Stripe objects and webhook events, in public (DESIGN.md 7)
    "apps.billing",  # Stripe webhooks routed to gyms; the platform's own billing of gyms
]

# TENANT_APPS live in each gym's schema.
TENANT_APPS = [
    "django.contrib.admin",  # the gym admin's change log stays inside the gym
    "apps.staff",  # per-gym staff roles: owner, manager, trainer, receptionist
    "apps.members",  # member profiles, CSV import/export, GDPR export and erasure
    "apps.plans",  # priced offers: recurring, one-off, class pack
    "apps.memberships",  # a member on a plan over time: freeze, cancel, renew, change plan
    "apps.classes",  # classes, recurring schedules, class sessions (the timetable)
    "apps.bookings",  # bookings, waitlist, the class-credit ledger
    "apps.checkins",  # front-desk check-ins, printed member QR cards, live occupancy
    "apps.invoices",  # invoices, payments, refunds, credit notes, recurring billing, dunning
    "apps.notifications",  # notifications to members: log, preferences, devices, channel settings
    "apps.dashboard",  # the owner/staff dashboard pages (no models of its own)
]

INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Gym"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "fitflow.urls_public"
ROOT_URLCONF = "fitflow.urls_tenants"
# New gyms are copied from this migrated template schema instead of being migrated
# one by one (Koku PR #2454: 13 s migrate vs 1.8 s clone). `manage.py migrate_gyms`
# keeps it migrated. The copy is apps.tenants.cloning (measured ~35x faster than
# django-tenants' clone_schema function); the two settings below keep django-tenants'
# own create_schema() on the same template if anything calls it directly.
TENANT_BASE_SCHEMA = "fitflow_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# The gym signup page shows its own 404 for unknown hosts (apps.tenants.middleware).
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.int("TENANT_MULTIPROCESSING_MAX_PROCESSES", default=2)

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/fitflow")}
# django-tenants' backend plus a scoped search_path cache for bulk jobs (fitflow/db/base.py).
DATABASES["default"]["ENGINE"] = "fitflow.db"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Middleware ----------------------------------------------------------------
MIDDLEWARE = [
    "apps.tenants.middleware.GymTenantMiddleware",  # first: picks the schema from the host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.tenants.middleware.GymTimezoneMiddleware",
    # Idempotency-Key on API writes (runs the view's DRF authenticators itself) and
    # ETag / 304 on the polled API reads; both in apps.core.
    "apps.core.idempotency.IdempotencyMiddleware",
    "apps.core.conditional.ApiConditionalGetMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.fitflow",
            ],
        },
    }
]

WSGI_APPLICATION = "fitflow.wsgi.application"
ASGI_APPLICATION = "fitflow.asgi.application"

# --- Identity (allauth) ----------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
# allauth's own login limits (per IP and per account), stored in the tenant-aware cache.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "FitFlow"
# Sessions are per host: a login on gym A is not a session on gym B or on the public site.
SESSION_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_DOMAIN = None

# --- Cache and Redis ---------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Prefix every key with the schema (django-tenants #1052: cross-gym leaks through the cache).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="fitflow"),
    }
}

# --- Channels -------------------------------------------------------------------------
# channels-redis' pub/sub layer: a group send is one PUBLISH and each process fans out
# to its own sockets in memory. Measured against the core layer (bench/checkin_live.py,
# README "Serving HTTP and websockets"): scan-to-100-dashboards p95 83 vs 155 ms, and
# the core layer's Redis pool (100 connections with redis-py 8) overflowed at 500
# sockets. Pub/sub channel names ignore the Redis DB number, so the prefix is what
# keeps two deployments (or two test runs) on one Redis apart.
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env("CHANNEL_LAYER_PREFIX", default="fitflow:ch")},
    }
}

# --- Celery (tenant-schemas-celery app, fitflow/celery.py) ------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Slow work (invoice PDFs and their emails) has its own queue, so it never holds up billing.
CELERY_TASK_ROUTES = {"apps.invoices.tasks.invoice_deliver_task": {"queue": "documents"}}

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.GymJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The shared error responses (401, 403, 404, 429...) on every operation (apps.core.openapi).
    "DEFAULT_SCHEMA_CLASS": "apps.core.openapi.ApiAutoSchema",
    # The apps send JSON; forms and multipart are not part of the API.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # DRF throttles keep their counters in the default cache, whose keys carry the schema.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="600/min"),
        "auth": env("API_THROTTLE_AUTH", default="10/min"),
        "feeds": env("API_THROTTLE_FEEDS", default="300/min"),
    },
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SIMPLE_JWT = {
    # Short-lived access tokens and rotating refresh tokens (DESIGN.md section 3).
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FitFlow API",
    "DESCRIPTION": (
        "The member and staff API of one gym, served at https://<gym>.<domain>/api/v1/. "
        'Errors are always {"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Appends the error reference (apps.core.api_errors.ERROR_CODES) to the description.
    "DEFAULT_GENERATOR_CLASS": "apps.core.openapi.ApiSchemaGenerator",
    # One name for a choice set used by several fields (the channel of each category).
    "ENUM_NAME_OVERRIDES": {"NotificationChannelEnum": "apps.notifications.models.Channel"},
    # Idempotency-Key on every write and ETag/If-None-Match/304 on the polled reads,
    # documented centrally (apps.core.idempotency, apps.core.conditional).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.idempotency.idempotency_schema_hook",
        "apps.core.conditional.conditional_get_schema_hook",
    ],
}

# --- Files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
# Uploads go through STORAGES; every upload_to starts with the schema name
# (django-tenants #249). Set STORAGE_BACKEND=s3 for S3-compatible storage.
STORAGE_BACKEND = env("STORAGE_BACKEND", default="filesystem")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME", default="fitflow"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Email ------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="FitFlow <no-reply@fitflow.localhost>")
# django-anymail: set EMAIL_BACKEND to e.g. "anymail.backends.sendgrid.EmailBackend",
# "anymail.backends.mailgun.EmailBackend" or "anymail.backends.amazon_ses.EmailBackend" and
# put the provider's settings in ANYMAIL (its API key from the environment).
ANYMAIL = {
    "SENDGRID_API_KEY": env("SENDGRID_API_KEY", default=""),
    "MAILGUN_API_KEY": env("MAILGUN_API_KEY", default=""),
    "MAILGUN_SENDER_DOMAIN": env("MAILGUN_SENDER_DOMAIN", default=""),
}

# --- Notifications (issue 7) ------------------------------------------------------------------
# SMS / WhatsApp and push backends (apps.notifications.backends): console in development,
# Twilio and FCM HTTP v1 in production. TWILIO_API_BASE and FCM_API_BASE point them at the
# tests' fake providers. Gym credentials are encrypted with keys derived from SECRET_KEY and
# SALT_KEY (django-fernet-encrypted-fields); a list of salts rotates keys.
NOTIFICATIONS_SMS_BACKEND = env(
    "NOTIFICATIONS_SMS_BACKEND", default="apps.notifications.backends.console.ConsoleSmsBackend"
)
NOTIFICATIONS_PUSH_BACKEND = env(
    "NOTIFICATIONS_PUSH_BACKEND", default="apps.notifications.backends.console.ConsolePushBackend"
)
TWILIO_API_BASE = env("TWILIO_API_BASE", default="https://api.twilio.com")
FCM_API_BASE = env("FCM_API_BASE", default="https://fcm.googleapis.com")
SALT_KEY = env.list("SALT_KEY", default=["fitflow-dev-only-salt"])

# --- I18N / time ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Security ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # The stripe library logs every request at INFO; its errors reach us as exceptions.
    # WeasyPrint logs each render's steps at INFO.
    # The twilio library logs each request, message body included (members' personal data).
    "loggers": {
        "stripe": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "twilio": {"level": "WARNING"},
    },
}
HEALTH_CELERY_TIMEOUT = env.float("HEALTH_CELERY_TIMEOUT", default=1.0)
CSRF_FAILURE_VIEW = "apps.core.views.csrf_failure"
# Modules whose `websocket_urlpatterns` fitflow/asgi.py serves (added by the check-in app).
WEBSOCKET_ROUTING_MODULES: list[str] = ["apps.checkins.routing"]
# In development and tests whitenoise serves straight from the finders (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Scheduled work (django-celery-beat copies this into its table at start) ---------------
# Dispatchers fan out one task per gym (tenant-schemas-celery carries the schema).
from celery.schedules import crontab  # noqa: E402

# Caps every beat dispatcher's per-gym jitter in seconds (apps.tenants.dispatch); unset = each
# dispatcher's own spread. The end-to-end stack sets 0 so the billing run starts when beat fires.
DISPATCH_JITTER_MAX_SECONDS = env.int("DISPATCH_JITTER_MAX_SECONDS", default=None)
CELERY_BEAT_SCHEDULE = {
    "membership-expiry-dispatch": {
        # Hourly; each gym's task works with the gym-local date, so every timezone is
        # handled within the hour and the job is idempotent.
        "task": "apps.memberships.tasks.membership_expiry_dispatch_task",
        "schedule": crontab(minute=5),
        "options": {"expires": 55 * 60},
    },
    "bookings-no-show-dispatch": {
        # Confirmed bookings of ended sessions become no-shows; sessions become completed.
        "task": "apps.bookings.tasks.bookings_no_show_dispatch_task",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60},
    },
    "checkins-auto-check-out-dispatch": {
        # Open check-ins older than the gym's auto_checkout_hours are closed.
        "task": "apps.checkins.tasks.checkins_auto_check_out_dispatch_task",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60},
    },
    "billing-run-dispatch": {
        # Hourly; a gym's billing run is queued when its local billing_hour has come.
        "task": "apps.invoices.tasks.billing_run_dispatch_task",
        "schedule": crontab(minute=0),
        "options": {"expires": 55 * 60},
    },
    "stripe-reconcile-dispatch": {
        # Daily; re-applies missed Connect events (Stripe lists 30 days of events).
        "task": "apps.invoices.tasks.stripe_reconcile_dispatch_task",
        "schedule": crontab(minute=40, hour=3),
        "options": {"expires": 23 * 3600},
    },
    "platform-billing-sweep": {
        # Daily; suspends gyms whose FitFlow subscription is unpaid for more than 14 days (UTC day).
        "task": "apps.billing.tasks.platform_billing_sweep_task",
        "schedule": crontab(minute=15, hour=4),
        "options": {"expires": 23 * 3600},
    },
    "notifications-sweep-dispatch": {
        # Sends notifications held back by quiet hours or a retry once their time has come.
        "task": "apps.notifications.tasks.notifications_sweep_dispatch_task",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "notifications-schedule-dispatch": {
        # Class reminders, expiring memberships, renewals, overdue invoices, birthdays,
        # re-engagement: each gym's due ones, in its timezone.
        "task": "apps.notifications.tasks.notifications_schedule_dispatch_task",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    "credits-expiry-dispatch": {
        # Class-pack and period credits past their expiry date get an `expire` ledger row.
        "task": "apps.bookings.tasks.credits_expiry_dispatch_task",
        "schedule": crontab(minute=20),
        "options": {"expires": 55 * 60},
    },
}

# --- Stripe (DESIGN.md 7) ----------------------------------------------------------------
# Gyms take member payments on their own Standard Connect accounts (apps.invoices.stripe_api);
# the platform bills gyms for their tier through dj-stripe. STRIPE_API_BASE points the stripe
# library elsewhere (the tests' and benches' fake Stripe server).
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_CONNECT_WEBHOOK_SECRET = env("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# dj-stripe keeps the platform's own Stripe objects in public: FitFlow bills each gym for
# its tier, the gym being the subscriber (apps.billing.models.GymSubscriber, a proxy of Gym
# that gives dj-stripe the `email` it needs). dj-stripe's first migration builds
# Customer.subscriber from this setting, so it must be set before djstripe is migrated.
DJSTRIPE_SUBSCRIBER_MODEL = "billing.GymSubscriber"
DJSTRIPE_SUBSCRIBER_MODEL_MIGRATION_DEPENDENCY = "0001_initial"
# Webhooks arrive at apps.billing.views (public host: /stripe/webhook/ and
# /stripe/connect-webhook/), which verify Stripe's signature before anything is stored.
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
# FitFlow's recurring price (price_...) per tier on the platform account, for new gym subscriptions.
FITFLOW_TIER_PRICES = {
    "starter": env("STRIPE_PRICE_STARTER", default=""),
    "growth": env("STRIPE_PRICE_GROWTH", default=""),
    "pro": env("STRIPE_PRICE_PRO", default=""),
}
# A gym whose FitFlow subscription is unpaid for more than this many days is suspended by
# the daily sweep (apps.billing.tasks.platform_billing_sweep_task), and reactivated on payment.
FITFLOW_UNPAID_SUSPEND_DAYS = env.int("FITFLOW_UNPAID_SUSPEND_DAYS", default=14)
