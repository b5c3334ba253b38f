"""Settings for event capture. Everything comes from the environment (see .env.example and docs/configuration.md).

Every value is read through one typed parser (eventcapture/env.py): one that does not parse raises
``ImproperlyConfigured`` naming the variable, the value and what it accepts, so no process starts
with it. Secrets have no production default. What a production service (DEBUG off) must not serve
with is refused where the web and the worker start (eventcapture/guards.py).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from eventcapture.env import Env, invalid, ip_network_check
from eventcapture.guards import DEVELOPMENT_SECRET_KEY
from eventcapture.logs import LOG_FORMATS, logging_config

# Lets generic classes such as ModelAdmin[Model] be subscripted at run time, as the type stubs are.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
env = Env()
# A secret read the settings' way: literally, or from the file its _FILE form names.
secret = env.secret

DEBUG: bool = env.boolean("DEBUG", default=False)
ENV_NAME: str = env.text("ENV_NAME", default="local")

_secret_key: str = env.secret("SECRET_KEY")
if not _secret_key:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (DEBUG is off). See .env.example.")
    _secret_key = DEVELOPMENT_SECRET_KEY
SECRET_KEY: str = _secret_key
# Earlier keys, still accepted for what they signed (admin sessions, password-reset links, signed
# values) but never used to sign: rotating SECRET_KEY moves the old one here, until its sessions
# have expired. Separated by commas or line breaks; a secret, with a _FILE form.
SECRET_KEY_FALLBACKS: list[str] = env.secret_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS: list[str] = env.text_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"], items="host names")

# --- HTTPS, behind a TLS-terminating proxy or load balancer (docs/configuration.md: Production settings) ---------
# The header and value the proxy sets on what it received over HTTPS, e.g.
# `HTTP_X_FORWARDED_PROTO,https`; only when the proxy always sets or strips that header (a client
# could otherwise claim HTTPS). Empty: no request is taken for secure unless it came over TLS.
_proxy_ssl_header: list[str] = env.text_list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise invalid(
        "SECURE_PROXY_SSL_HEADER",
        ",".join(_proxy_ssl_header),
        "a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https",
    )
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1]) if _proxy_ssl_header else None
# Origins the admin's forms may be posted from besides the request's own host: the public
# https://… name when a proxy forwards another Host.
CSRF_TRUSTED_ORIGINS: list[str] = env.text_list("CSRF_TRUSTED_ORIGINS", default=[], items="origins")
# Plain HTTP redirected to HTTPS, except the probes and the metrics scrape.
SECURE_SSL_REDIRECT: bool = env.boolean("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^ping$", r"^ready$", r"^metrics$"]
# Strict-Transport-Security on HTTPS answers: a year unless DEBUG is on.
SECURE_HSTS_SECONDS: int = env.integer("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD: bool = env.boolean("SECURE_HSTS_PRELOAD", default=False)
# The admin's session and CSRF cookies only over HTTPS unless DEBUG is on (`make run`, plain HTTP
# on this machine, turns them off).
SESSION_COOKIE_SECURE: bool = env.boolean("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.boolean("CSRF_COOKIE_SECURE", default=not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "registry",
    "events",
    "kafka_bridge",
]

MIDDLEWARE = [
    # Outermost, so a request's measured time includes every other middleware (eventcapture/metrics_web.py).
    "eventcapture.metrics_web.RequestLatencyMiddleware",
    # Next, so that every line logged while the request is served names its id (X-Request-ID).
    "eventcapture.request_ids.RequestIdMiddleware",
    # First after it: it answers CORS preflights itself and must add its headers to every other response.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from gunicorn, so `make run` needs no web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's own, but that the ingestion endpoints skip them (eventcapture/admin_middleware.py).
    "eventcapture.admin_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "eventcapture.admin_middleware.AuthenticationMiddleware",
    "eventcapture.admin_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns an admin login locked out by too many failures into a 429 (see below).
    "axes.middleware.AxesMiddleware",
]
# The admin's messages ("… was changed successfully") kept in its session. Django's default reads
# a signed cookie first, building a signer on every request that runs the middleware (the registry
# API's too, which has no messages; the ingestion endpoints skip it altogether).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Passwords and guessing them -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed password logins (the admin's form, the registry API's Basic auth) per
# client address and per username; past the limit both are refused with 429 and Retry-After until
# the cool-off has passed since the last failure. A success clears the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT: int = env.integer("LOGIN_FAILURE_LIMIT", default=10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.duration("LOGIN_COOLOFF_MINUTES", default=15.0, unit="minutes"))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# The client address as the rate limits see it (TRUSTED_PROXIES and X-Forwarded-For).
AXES_CLIENT_IP_CALLABLE = "eventcapture.client_address.request_client_ip"
AXES_LOCKOUT_CALLABLE = "eventcapture.logins.login_locked_out"
AXES_USERNAME_CALLABLE = "eventcapture.logins.login_username"
# Only the failures: no log of successful logins (addresses and user agents are personal data).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False

ROOT_URLCONF = "eventcapture.urls"
WSGI_APPLICATION = "eventcapture.wsgi.application"

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

DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Bounded waits on the database: a connection attempt gives up after DATABASE_CONNECT_TIMEOUT
# seconds (PostgreSQL), a locked SQLite file after as long.
DATABASE_CONNECT_TIMEOUT: int = env.integer("DATABASE_CONNECT_TIMEOUT", default=5, minimum=1)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", DATABASE_CONNECT_TIMEOUT)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path = env.path("STATIC_ROOT", default=BASE_DIR / ".stack" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "eventcapture.exceptions.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The ingestion endpoints are public; identity comes from the SSO token, not DRF auth.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Only under /api/ (events/throttling.py); the schema-registry API limits its own (views.py).
    "DEFAULT_THROTTLE_CLASSES": ["events.throttling.ClientIpRateThrottle", "events.throttling.UserRateThrottle"],
}

# --- Event capture -------------------------------------------------------------------------------
DEVICE_COOKIE_NAME: str = env.text("DEVICE_COOKIE_NAME", default="oxdid")
SSO_COOKIE_NAME: str = env.text("SSO_COOKIE_NAME", default="oxa")
# The SSO token's keys (events/sso.py), checked at start-up (events.E001, events.E002). Empty: SSO
# is off and everyone is anonymous. Secrets (see `secret`); the PEM may be one line with \n escapes.
SSO_ENCRYPTION_KEY: str = env.secret("SSO_ENCRYPTION_KEY")
SSO_SIGNATURE_PUBLIC_KEY: str = env.secret("SSO_SIGNATURE_PUBLIC_KEY").replace("\\n", "\n")
# Keys accepted besides those, while one is rotated (docs/secrets.md): encryption keys
# comma-separated or a JSON array; public keys as PEM blocks one after the other, or a JWKS.
SSO_ENCRYPTION_KEY_FALLBACKS: str = env.secret("SSO_ENCRYPTION_KEY_FALLBACKS")
SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS: str = env.secret("SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS").replace("\\n", "\n")
# The token's `iss` must be one of these, and its `aud` name one of these (comma-separated);
# empty: not checked. The OpenStax accounts service writes "OpenStax Accounts" and "OpenStax".
SSO_ISSUER: list[str] = env.text_list("SSO_ISSUER", default=[])
SSO_AUDIENCE: list[str] = env.text_list("SSO_AUDIENCE", default=[])
# Lets load tests name their user in a `LoadTest-Client-UUID` header. Never on in production.
LOADTESTING_ACTIVE: bool = env.boolean("LOADTESTING_ACTIVE", default=False)
# Addresses or CIDRs of proxies whose X-Forwarded-For is believed (eventcapture/client_address.py);
# one that is neither stops start-up here (events.E003 checks those set otherwise).
TRUSTED_PROXIES: list[str] = env.text_list(
    "TRUSTED_PROXIES", default=[], item=ip_network_check, items="IP addresses or networks (CIDR), e.g. 10.0.0.0/8"
)
MAX_EVENTS_PER_REQUEST: int = env.integer("MAX_EVENTS_PER_REQUEST", default=500, minimum=1)
# Bytes of one request body, counted after decompression; more is a 413.
MAX_REQUEST_BYTES: int = env.integer("MAX_REQUEST_BYTES", default=1024 * 1024, minimum=1)
# How deeply a JSON body may nest objects and arrays; deeper is a 400.
MAX_JSON_DEPTH: int = env.integer("MAX_JSON_DEPTH", default=32, minimum=1)
# A schema's text (Avro or JSON) sent to the registry API or pasted in the admin: at most this many
# characters, MAX_JSON_DEPTH deep, and an Avro schema at most MAX_SCHEMA_FIELDS fields in all its
# records (the shipped xAPI statement: 8,400 characters, 71 fields, 17 deep).
MAX_SCHEMA_CHARS: int = env.integer("MAX_SCHEMA_CHARS", default=128 * 1024, minimum=1)
MAX_SCHEMA_FIELDS: int = env.integer("MAX_SCHEMA_FIELDS", default=1000, minimum=1)
# How long a compiled snapshot of the registry is trusted before it is re-read from the database (0: never).
REGISTRY_CACHE_SECONDS: float = env.duration("REGISTRY_CACHE_SECONDS", default=5.0, zero=True)

# --- Kafka ---------------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS: str = env.text("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
KAFKA_TOPIC_PREFIX: str = env.text("KAFKA_TOPIC_PREFIX", default="")

# The topics `manage.py populate_topics` creates and checks (kafka_bridge/topics.py); a relative
# path is from the project folder.
KAFKA_TOPICS_CONFIG: Path = BASE_DIR / env.path("KAFKA_TOPICS_CONFIG", default=Path("kafka_bridge/topics.toml"))
# Partitions and replication factor of the topics the topics config gives no values of their own;
# unset: the config's defaults (3 and 3, as the old service).
KAFKA_TOPIC_PARTITIONS: int | None = env.optional_integer("KAFKA_TOPIC_PARTITIONS", minimum=1)
KAFKA_TOPIC_REPLICATION: int | None = env.optional_integer("KAFKA_TOPIC_REPLICATION", minimum=1)
# Seconds the worker waits for Kafka's delivery reports of one batch before retrying the task.
# A batch still undelivered this many seconds after it was queued (Kafka down) logs an error on
# every retry, for alerting; it keeps being retried, never dropped.
KAFKA_OUTAGE_ALERT_SECONDS: float = env.duration("KAFKA_OUTAGE_ALERT_SECONDS", default=300.0, zero=True)
KAFKA_DELIVERY_TIMEOUT: float = env.duration("KAFKA_DELIVERY_TIMEOUT", default=30.0)
# Days a settled (replayed or delivered) dead letter is kept: `manage.py purge_dead_letters`
# deletes older ones (they hold addresses, user agents and user ids).
DEAD_LETTER_RETENTION_DAYS: int = env.integer("DEAD_LETTER_RETENTION_DAYS", default=30, minimum=1)
# The largest Kafka record the producer sends (librdkafka's message.max.bytes): key, value and
# headers. The API refuses an event whose record would be larger (a record past the broker's own
# limit could never be delivered). Brokers take 1,048,588 bytes unless told otherwise; raise both
# together.
KAFKA_MESSAGE_MAX_BYTES: int = env.integer("KAFKA_MESSAGE_MAX_BYTES", default=1_000_000, minimum=1)
# How long the producer holds records to fill a request to Kafka (librdkafka's linger.ms).
KAFKA_LINGER_MS: int = env.integer("KAFKA_LINGER_MS", default=5, minimum=0)
# The producer's compression codec (librdkafka's compression.type). zstd packs batches best; gzip
# is what every consumer library reads without a plugin (kafkajs needs one for the others).
KAFKA_COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")
KAFKA_COMPRESSION_TYPE: str = env.choice("KAFKA_COMPRESSION_TYPE", default="zstd", choices=KAFKA_COMPRESSION_TYPES)

# How every Kafka client (producer, admin clients, consumers) connects: kafka_bridge/connection.py
# turns these into librdkafka's settings. A managed Kafka wants SASL_SSL and credentials; an empty
# CA file means the system's CA certificates.
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
KAFKA_SECURITY_PROTOCOL: str = env.choice(
    "KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT", choices=KAFKA_SECURITY_PROTOCOLS, case=str.upper
)
# Checked below with the protocol: only SASL_* uses it.
KAFKA_SASL_MECHANISM: str = env.text("KAFKA_SASL_MECHANISM", default="").strip().upper()
KAFKA_SASL_USERNAME: str = env.secret("KAFKA_SASL_USERNAME")
KAFKA_SASL_PASSWORD: str = env.secret("KAFKA_SASL_PASSWORD")
KAFKA_SSL_CA_LOCATION: str = env.text("KAFKA_SSL_CA_LOCATION", default="").strip()
# A client certificate and its key (PEM), for brokers that authenticate clients by TLS (mTLS).
KAFKA_SSL_CERTIFICATE_LOCATION: str = env.text("KAFKA_SSL_CERTIFICATE_LOCATION", default="").strip()
KAFKA_SSL_KEY_LOCATION: str = env.text("KAFKA_SSL_KEY_LOCATION", default="").strip()
KAFKA_SSL_KEY_PASSWORD: str = env.secret("KAFKA_SSL_KEY_PASSWORD")


def _kafka_security_check() -> None:
    """Refuses combinations that could only fail later, at the first connection, or silently send
    credentials nowhere (a password without SASL is a mistake, not a default)."""
    protocol = KAFKA_SECURITY_PROTOCOL
    sasl = {
        "KAFKA_SASL_MECHANISM": KAFKA_SASL_MECHANISM,
        "KAFKA_SASL_USERNAME": KAFKA_SASL_USERNAME,
        "KAFKA_SASL_PASSWORD": KAFKA_SASL_PASSWORD,
    }
    if protocol.startswith("SASL_"):
        missing = [name for name, value in sasl.items() if not value]
        if missing:
            raise ImproperlyConfigured(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}.")
        if KAFKA_SASL_MECHANISM not in KAFKA_SASL_MECHANISMS:
            raise ImproperlyConfigured(
                f"KAFKA_SASL_MECHANISM must be one of {', '.join(KAFKA_SASL_MECHANISMS)}, got {KAFKA_SASL_MECHANISM!r}."
            )
    else:
        given = [name for name, value in sasl.items() if value]
        if given:
            raise ImproperlyConfigured(
                f"{', '.join(given)} set, but KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "use SASL_SSL (or SASL_PLAINTEXT) to authenticate with them."
            )
    files = {
        "KAFKA_SSL_CA_LOCATION": KAFKA_SSL_CA_LOCATION,
        "KAFKA_SSL_CERTIFICATE_LOCATION": KAFKA_SSL_CERTIFICATE_LOCATION,
        "KAFKA_SSL_KEY_LOCATION": KAFKA_SSL_KEY_LOCATION,
    }
    given = [name for name, value in files.items() if value]
    if KAFKA_SSL_KEY_PASSWORD:
        given.append("KAFKA_SSL_KEY_PASSWORD")
    if given and protocol not in ("SSL", "SASL_SSL"):
        raise ImproperlyConfigured(
            f"{', '.join(given)} set, but KAFKA_SECURITY_PROTOCOL is {protocol}: TLS settings need SSL or SASL_SSL."
        )
    for name, path in files.items():
        if path and not (Path(path).is_file() and os.access(path, os.R_OK)):
            raise ImproperlyConfigured(f"{name} names no readable file: {path!r}.")
    if bool(KAFKA_SSL_CERTIFICATE_LOCATION) != bool(KAFKA_SSL_KEY_LOCATION):
        raise ImproperlyConfigured("KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together (mTLS).")
    if KAFKA_SSL_KEY_PASSWORD and not KAFKA_SSL_KEY_LOCATION:
        raise ImproperlyConfigured("KAFKA_SSL_KEY_PASSWORD is the password of KAFKA_SSL_KEY_LOCATION, which is unset.")


_kafka_security_check()

# An external Confluent-compatible schema registry the worker registers schemas in and takes ids
# from; empty: ids come from this service's registry tables.
SCHEMA_REGISTRY_URL: str = env.text("SCHEMA_REGISTRY_URL", default="")
SCHEMA_REGISTRY_BASIC_AUTH: str = env.secret("SCHEMA_REGISTRY_BASIC_AUTH")
# Where consumers (and `manage.py tail_events`) reach this service's schema-registry API.
SCHEMA_REGISTRY_PUBLIC_URL: str = env.text(
    "SCHEMA_REGISTRY_PUBLIC_URL", default="http://127.0.0.1:8000/schema-registry"
)

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL: str = env.secret("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# kombu's Redis transport with the fault that stopped workers when Redis went away mended
# (eventcapture/broker.py); any other broker URL keeps kombu's own transport.
CELERY_BROKER_TRANSPORT: str | None = (
    "eventcapture.broker:Transport" if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None
)
CELERY_TASK_SERIALIZER = "json"
# The delivery task's bodies are written by orjson (eventcapture/celery.py, kafka_bridge/queue.py).
CELERY_ACCEPT_CONTENT = ["json", "orjson"]
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge a batch only after Kafka acknowledged every record of it (at-least-once).
CELERY_TASK_ACKS_LATE = True
# A prefork child killed mid-batch puts the task back instead of acknowledging it (a killed
# thread-pool worker leaves its tasks unacknowledged in Redis, re-delivered after the visibility timeout).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Delivery tasks have a queue of their own, which the worker's intake takes many at a time from
# (kafka_bridge/intake.py); Celery's own consumer takes the rest (dead-letter replays) from the
# default queue.
CELERY_TASK_ROUTES = {"kafka_bridge.deliver_batch": {"queue": "deliver"}}
# Threads, not processes: the pool runs in the process whose one Kafka producer the intake uses.
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY: int = env.integer("CELERY_CONCURRENCY", default=2, minimum=1)
# One task in hand per thread, no more: a crash re-delivers few tasks.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Groups of queued batches the intake delivers at once, per worker process (see docs/throughput.md).
DELIVERY_CONCURRENCY: int = env.integer("DELIVERY_CONCURRENCY", default=4, minimum=1)
# Fail fast when Redis is unreachable instead of retrying the publish for ever inside a request.
CELERY_BROKER_CONNECTION_TIMEOUT: float = env.duration("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged task is re-delivered after this many seconds; longer than the longest
    # retry-free delivery of one batch, so a slow batch is not delivered twice in parallel.
    "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", default=3600, minimum=1),
    # Every wait on Redis is bounded: a frozen Redis is an error after these, not a hang (Celery's
    # consumer waits at most 1 s in each BRPOP, well within).
    "socket_timeout": 5.0,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
}
# Seconds a request waits on the queue: for its turn to publish, then for Redis to answer the
# publish. A Redis that stops answering gives 503 `queue_unavailable` within twice this (plus the
# connection timeout when it must reconnect), never a hang and never a 202 after the client left.
QUEUE_TIMEOUT: float = env.duration("QUEUE_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False

# --- The HTTP edge: CORS, rate limits, API documentation, info and readiness ---------------------

# Browsers may call /api/ from these origins, with cookies (the SSO and device cookies): none but
# those configured (docs/configuration.md has the OpenStax sites' patterns as an example). With
# DEBUG on, also pages served from this machine (localhost, 127.0.0.1, [::1], any port).
DEVELOPMENT_CORS_ORIGIN_REGEXES = [r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"]
CORS_ALLOWED_ORIGIN_REGEXES: list[str] = env.pattern_list("CORS_ALLOWED_ORIGIN_REGEXES", default=[]) + (
    DEVELOPMENT_CORS_ORIGIN_REGEXES if DEBUG else []
)
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"
# PUT: xAPI clients store one statement under its id (PUT /api/v0/xapi/statements?statementId=…).
CORS_ALLOW_METHODS = ("GET", "OPTIONS", "POST", "PUT")
# Authorization and Content-Type are among the defaults; gzip-encoded bodies name their encoding;
# xAPI clients (in browsers too) send their version on every request and read the LRS's back.
# X-Request-ID: a browser may name its request (eventcapture/request_ids.py) and read the id back.
CORS_ALLOW_HEADERS = (*default_headers, "content-encoding", "x-experience-api-version", "x-request-id")
CORS_EXPOSE_HEADERS = ("X-Experience-API-Version", "X-Request-ID")

_RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")
_RATE_ACCEPTS = "a rate such as 600/min (per s, min, hour or day)"
RATE_LIMIT_ENABLED: bool = env.boolean("RATE_LIMIT_ENABLED", default=True)
RATE_LIMIT_PER_IP: str = env.matching("RATE_LIMIT_PER_IP", default="600/min", pattern=_RATE, accepts=_RATE_ACCEPTS)
# The schema-registry API's open endpoints that parse and compare schemas (look-up, compatibility),
# per client address; its reads are not limited (deserializers fetch schemas by id).
RATE_LIMIT_REGISTRY_PER_IP: str = env.matching(
    "RATE_LIMIT_REGISTRY_PER_IP", default="120/min", pattern=_RATE, accepts=_RATE_ACCEPTS
)
RATE_LIMIT_PER_USER: str = env.matching("RATE_LIMIT_PER_USER", default="600/min", pattern=_RATE, accepts=_RATE_ACCEPTS)
# The rate-limit counters, shared by every web process. Short socket timeouts: the limits fail
# open (events/throttling.py), so an unreachable Redis must cost little.
RATELIMIT_CACHE_URL: str = env.secret("RATELIMIT_CACHE_URL", "redis://127.0.0.1:6379/1")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": RATELIMIT_CACHE_URL,
        "KEY_PREFIX": "ratelimit",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    },
}

# GET /api/v0/info
ACCOUNTS_ENV_NAME: str = env.text("ACCOUNTS_ENV_NAME", default="local")
# The deployed commit; empty: `git rev-parse HEAD` in the project folder, else "unknown".
GIT_SHA: str = env.text("GIT_SHA", default="")
# SSO user UUIDs that see the admin part of /api/v0/info (as do staff sessions).
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_check(value: str) -> None:
    if not _UUID.fullmatch(value.lower()):
        raise ValueError(value)


ADMIN_UUIDS: list[str] = [
    value.lower() for value in env.text_list("ADMIN_UUIDS", default=[], item=_uuid_check, items="UUIDs")
]
# Seconds /ready and /api/v0/info wait for each of the database, Redis and Kafka.
HEALTH_CHECK_TIMEOUT: float = env.duration("HEALTH_CHECK_TIMEOUT", default=2.0)

# The OpenAPI document (/api/v0/swagger) and its interactive docs (/api/v0/docs); operations/openapi.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "Event capture API",
    "DESCRIPTION": (
        "Analytics events over HTTP, validated against the event registry and delivered to Kafka. "
        "The payload schemas are those of the registry's active event versions at the time of the request."
    ),
    # 3.1: its schemas are JSON Schema 2020-12, the registry's dialect (const, if/then, $ref siblings).
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # The document does not describe itself or the docs page.
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["operations.openapi.endpoints_public_api"],
    # Only the document's version: the shapes come from serializers and extend_schema on the views,
    # the registry's payload schemas from serializer extensions (events/openapi.py).
    "POSTPROCESSING_HOOKS": ["operations.openapi.version_set"],
    "TAGS": [
        {"name": "events", "description": "Sending events."},
        {"name": "service", "description": "The service itself."},
    ],
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The document reads the registry from the database, which `check --deploy` may not reach;
    # tests/test_openapi.py generates and checks it instead.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# --- The admin's live numbers (registry/numbers.py) ----------------------------------------------
# Where the admin's numbers per type and major come from: kept by kafka_bridge, which the registry
# does not import (a NumbersSource: the worker's hourly counts and the pending dead letters).
REGISTRY_NUMBERS = "kafka_bridge.numbers.NUMBERS"
# The longest the worker waits for the database when it writes a group's counts (seconds); a count
# that cannot be written is logged and dropped, never holding up delivery.
EVENT_COUNTS_WRITE_TIMEOUT: float = env.duration("EVENT_COUNTS_WRITE_TIMEOUT", default=2.0)
# How often a worker process writes the counts of the groups it delivered meanwhile (seconds; 0:
# every group at once). One write per group costs a loaded machine dearly (kafka_bridge/numbers.py).
EVENT_COUNTS_FLUSH_SECONDS: float = env.duration("EVENT_COUNTS_FLUSH_SECONDS", default=5.0, zero=True)

# --- Metrics (eventcapture/metrics.py) ------------------------------------------------------------
# Empty: /metrics answers loopback and METRICS_ALLOWED_NETWORKS only (403 to others); set: it needs
# `Authorization: Bearer <token>`, from anywhere, and the token shows /ready's reasons. A secret.
METRICS_TOKEN: str = env.secret("METRICS_TOKEN")
# Addresses or CIDRs (besides loopback) that may read /metrics without the token while it is unset,
# judged as the rate limits judge a client's address (TRUSTED_PROXIES).
METRICS_ALLOWED_NETWORKS: list[str] = env.text_list(
    "METRICS_ALLOWED_NETWORKS",
    default=[],
    item=ip_network_check,
    items="IP addresses or networks (CIDR), e.g. 10.0.0.0/8",
)
# The address the Celery worker's exporter listens on: loopback unless told otherwise (a private
# network's address, or 0.0.0.0 inside a container on an internal network); it has no token.
WORKER_METRICS_HOST: str = env.text("WORKER_METRICS_HOST", default="127.0.0.1")
# Its port; 0: not served.
WORKER_METRICS_PORT: int = env.integer("WORKER_METRICS_PORT", default=9808, minimum=0, maximum=65535)
# What answers the worker's /ready on that port (a function returning a status and a JSON body).
WORKER_READINESS = "operations.health.worker_readiness_response"
# The worker's label values known in advance, exported at zero from its start (a function).
METRICS_WORKER_LABEL_VALUES = "kafka_bridge.collectors.worker_label_values"
# Gauges the apps read at scrape time, added to every scrape (web and worker), by name: the oldest
# undelivered batch's age (Redis) and the pending dead letters (the database).
METRICS_COLLECTORS = [
    "kafka_bridge.collectors.OldestBatchCollector",
    "kafka_bridge.collectors.DeadLettersPendingCollector",
]
# prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself, at import; a folder that is not there
# would fail the first counted event, so it is checked here, at start-up.
_multiproc_dir = env.raw("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir is not None and not (_multiproc_dir and Path(_multiproc_dir).is_dir()):
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR must be an existing folder, got {_multiproc_dir!r}.")

# Log lines as text (the default) or one JSON object a line (eventcapture/logs.py, docs/logging.md);
# either way each names the request it belongs to (X-Request-ID).
LOG_FORMAT: str = env.choice("LOG_FORMAT", default="text", choices=LOG_FORMATS)
LOG_LEVEL: str = env.choice(
    "LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), case=str.upper
)
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# The schema-registry client logs every HTTP request at INFO, and Celery every task it receives
# and finishes: thousands of lines a second under load, which the metrics count instead
# (eventcapture_batches_delivered_total); failures and retries are still logged. django-axes
# announces itself at INFO in every process and command; its failures and lock-outs are WARNINGs.
LOGGING["loggers"] = {
    name: {"level": "WARNING"}
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "celery.app.trace", "celery.worker.strategy", "axes")
}
