"""Settings for the whole project, read from the environment.

Every value comes from an environment variable documented in `.env.example`, or from a
local `.env` file for the variables the environment does not set (soc/envfile.py). The
helpers of soc/env.py refuse a malformed value at startup with a message naming the
variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.logging import logging_config
from incidents.groups import RUNBOOK_AUTHOR, SOC_ANALYST
from soc.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_url,
)
from soc.envfile import env_file_path, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
# Written by `manage.py up` on its first run, so that the other commands work on a laptop
# without exporting DEBUG and SECRET_KEY; a variable set in the environment wins.
ENV_FILE = env_file_path(BASE_DIR)
load_env_file(ENV_FILE)

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

# Only used when DEBUG is on, so a laptop works without configuration; a production
# deployment without SECRET_KEY refuses to start (see below).
_DEV_SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the app refuses to start without it: set "
            "SECRET_KEY to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or set DEBUG=true for local use."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

# Absolute base URL for every link we put in an email. Never derived from the request's
# Host header, which an attacker controls.
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "anymail",
    "django_q",
    "rest_framework",
    "drf_spectacular_sidecar",
    "django_filters",
    "drf_spectacular",
    "soc",
    "incidents",
    "runbooks",
    "mailflow",
    "core.api",
    "core.sso",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (core/request_id.py).
    "core.request_id.RequestIdMiddleware",
    # Before the host check and the HTTPS redirect: probes come by IP (core/health.py).
    "core.health.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads request.POST: reads large inbound webhook posts itself, and
    # turns malformed webhook payloads into 400s and database failures into 503s.
    "mailflow.webhook_middleware.WebhookMiddleware",
    "core.query.RefuseNulInQueryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Near the end, so it sees the admin's pages as the views made them.
    "core.reveal_invisible.RevealInvisibleInAdminMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "soc.urls"
WSGI_APPLICATION = "soc.wsgi.application"

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

# --- Database ---------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'soc.sqlite3'}")
# Persistent connections in production: opening one costs more than a whole webhook post's
# queries (bench/webhook_ingest.py, bench/reply_to_branch.py). Off with DEBUG, where
# runserver's thread per request would leave a connection behind each.
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if DEBUG else 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None

if _database["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task worker write to the same file. WAL lets readers proceed
    # during a write; IMMEDIATE takes the write lock at BEGIN so two writers queue on the
    # busy timeout instead of failing with "database is locked" half-way through.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    if _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _options = _database.setdefault("OPTIONS", {})
    if env_bool("DB_PREPARED_STATEMENTS", True):
        # The statements a process sends again and again (dozens per reply) are prepared
        # once per connection, after their fifth use, so the server stops parsing and
        # planning each one, which saves CPU on every reply (figures: bench/RESULTS.md,
        # from bench/reply_to_branch.py --cost N --compare-prepared). Needs parameters
        # bound on the server. Turn it off behind a pooler in transaction mode that does
        # not track prepared statements (PgBouncer before 1.21).
        _options.update(server_side_binding=True, prepare_threshold=5)
    if not env_bool("DB_JIT", False):
        # JIT compilation pays off for long analytic queries. The app's are short, but a
        # page's aggregate over many rows can be costed high enough to trigger it, and
        # compiling then takes far longer than running (bench/analyst_pages.py).
        _options.setdefault("options", "-c jit=off")
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication, i18n, time ---------------------------------------------------------

# django-axes first: it refuses a locked-out sign-in before any password is checked. It
# only sees authenticate(), the admin's login form: the API's tokens and the answer page
# never call it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in guesses: after this many failures for one account, or from one client address,
# within the cool-off, both are refused until the cool-off has passed since the last try.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_LOCKOUT_CALLABLE = "core.login_limits.lockout_response"
# The address the answer page's rate limits use: behind the proxy only with
# TRUST_X_FORWARDED_FOR, otherwise the connection's.
AXES_CLIENT_IP_CALLABLE = "core.login_limits.client_ip"
# Axes logs each failure and the lockout with the address, user agent and path; the user
# name, which may be an email address, is masked there and in the stored form data (the
# password always is). The admin's "Access attempts" show the names.
AXES_SENSITIVE_PARAMETERS = ["username"]

# Single sign-on at the organisation's identity provider (OpenID Connect through
# mozilla-django-oidc; docs/operations.md), on when the client id is set. Accounts are found
# by the `sub` claim alone and get the Django groups their provider groups map to, at every
# sign-in. django-axes's address lock applies to it too.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256").upper()
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# Django group -> the provider's group names or ids (or roles) that give it.
OIDC_GROUP_MAP = {
    SOC_ANALYST: env_list("OIDC_GROUPS_ANALYST"),
    RUNBOOK_AUTHOR: env_list("OIDC_GROUPS_AUTHOR"),
}
# Take the email claim without email_verified (Entra ID sends none): only where the
# person cannot set the address themselves at the provider.
OIDC_TRUST_EMAIL = env_bool("OIDC_TRUST_EMAIL", False)
# Hours a session opened through the provider lasts; the next sign-in re-reads the groups.
OIDC_SESSION_HOURS = env_int("OIDC_SESSION_HOURS", 10, minimum=1)
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10  # seconds per request to the provider; the library waits forever
# Passwords off for everyone but these break-glass accounts; refused in the backend.
LOCAL_LOGIN = env_bool("LOCAL_LOGIN", True)
LOCAL_LOGIN_USERS = env_list("LOCAL_LOGIN_USERS")
if OIDC_RP_CLIENT_ID:
    _oidc_needs = ["OIDC_RP_CLIENT_SECRET", "OIDC_OP_AUTHORIZATION_ENDPOINT",
                   "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT"]  # fmt: skip
    if not OIDC_RP_SIGN_ALGO.startswith("HS"):  # signed with the client secret otherwise
        _oidc_needs.append("OIDC_OP_JWKS_ENDPOINT")
    _missing = [name for name in _oidc_needs if not globals()[name]]
    if _missing:
        raise ImproperlyConfigured(
            f"OIDC_RP_CLIENT_ID is set, so single sign-on needs {', '.join(_missing)} too "
            "(the provider's discovery document, /.well-known/openid-configuration, lists "
            "the endpoints). docs/operations.md has them for Entra ID, Okta and Keycloak."
        )
    _not_urls = [name for name in _oidc_needs[1:] if not globals()[name].startswith("http")]
    if _not_urls:
        raise ImproperlyConfigured(f"{', '.join(_not_urls)}: not an absolute http(s) URL")
    if not any(OIDC_GROUP_MAP.values()):
        raise ImproperlyConfigured(
            "Single sign-on is on but neither OIDC_GROUPS_ANALYST nor OIDC_GROUPS_AUTHOR is "
            "set: everyone would be refused. Name the provider's groups for each."
        )
    if OIDC_RP_SIGN_ALGO not in {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256"}:
        raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO {OIDC_RP_SIGN_ALGO!r} is not supported")
    AUTHENTICATION_BACKENDS.append("core.sso.backends.OidcBackend")
if not LOCAL_LOGIN:
    if not OIDC_RP_CLIENT_ID:
        raise ImproperlyConfigured(
            "LOCAL_LOGIN=false turns passwords off for all but LOCAL_LOGIN_USERS: set up "
            "single sign-on (OIDC_RP_CLIENT_ID and the endpoints) first."
        )
    AUTHENTICATION_BACKENDS[1] = "core.sso.backends.BreakGlassBackend"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The admin stays English (no LocaleMiddleware); the emails and answer pages are rendered
# in the person's language, one of these, from the catalogues under locale/ (the compiled
# .mo files are committed: no gettext tools needed to run). docs/translations.md.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("nl", "Dutch"),
    ("it", "Italian"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# gunicorn serves STATIC_ROOT itself (WhiteNoise) when no web server beside it does: the
# container image turns this on. Right after SecurityMiddleware, as WhiteNoise asks.
SERVE_STATIC = env_bool("SERVE_STATIC", False)
if SERVE_STATIC:
    _after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
    MIDDLEWARE.insert(_after_security, "whitenoise.middleware.WhiteNoiseMiddleware")
# Fields one request may post. Django's 1000 is too few for the runbook admin's change
# form: every step's form carries each action's parameters with an input per language
# (about 200 a step), so a runbook of seven steps and its blank forms passes 1000.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# Evidence sent by end users is hostile until proven otherwise: it lives outside any
# directory a web server serves, and only the staff-only download view reads it.
EVIDENCE_ROOT = Path(env_str("EVIDENCE_ROOT", str(VAR_DIR / "evidence")))
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 25 * 1024 * 1024, minimum=1)
# Inbound emails as received (raw MIME), kept for reprocessing and as the original record.
INBOUND_ROOT = Path(env_str("INBOUND_ROOT", str(VAR_DIR / "inbound")))
# Largest inbound webhook post accepted (/anymail/<provider>/inbound/), in bytes. Sized
# for the largest mail a provider takes (Postmark: 35 MB) in its largest envelope:
# Postmark's JSON with RawEmail carries each attachment twice, once base64-encoded. The
# rest of the site keeps Django's 2.5 MB request limit.
INBOUND_MAX_BYTES = env_int("INBOUND_MAX_BYTES", 80 * 1024 * 1024, minimum=1)
# Inbound posts (Postmark, Mailgun, SendGrid) larger than this are stored as they came and
# read by the worker: the webhook answers a large message fast and in constant memory.
# Smaller ones, nearly every reply, are read in the request, where a malformed post is a
# 400 and the worker, the busier side, does less (bench/reply_to_branch.py).
INBOUND_DEFER_BYTES = env_int("INBOUND_DEFER_BYTES", 1024 * 1024, minimum=0)

# --- Security ---------------------------------------------------------------------------

# HTTPS is usually terminated by a reverse proxy; these let it tell Django so.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", SITE_URL)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# The answer page's rate limits count per client address. Behind a reverse proxy that
# overwrites X-Forwarded-For with the client's address, set this to use that header's
# first entry; otherwise every visitor shares the proxy's address.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# --- Answer page (end users, no login) --------------------------------------------------

# Uploads with an answer: count, size per file and in total, and the types accepted, as
# sniffed from the content (never the name).
ANSWER_MAX_FILES = env_int("ANSWER_MAX_FILES", 5)
ANSWER_MAX_FILE_BYTES = env_int("ANSWER_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1)
ANSWER_MAX_TOTAL_BYTES = env_int("ANSWER_MAX_TOTAL_BYTES", 25 * 1024 * 1024, minimum=1)
ANSWER_ALLOWED_TYPES = env_list(
    "ANSWER_ALLOWED_TYPES",
    "image/png,image/jpeg,image/gif,image/webp,image/heic,application/pdf,text/plain",
)
# An answer posted this soon after the email went out is a scanner: kept, not counted.
ANSWER_MIN_SECONDS_AFTER_SEND = env_int("ANSWER_MIN_SECONDS_AFTER_SEND", 5)
# Such an answer (or one from a headless browser) waits on the incident page this long for
# an analyst to accept it, or for the person to answer again; then it becomes a task.
ANSWER_HELD_TASK_MINUTES = env_int("ANSWER_HELD_TASK_MINUTES", 60, minimum=1)
# Per 10 minutes: unknown tokens per client address, then HTTP 429 for that address; and
# visits of one request's links or page.
ANSWER_GUESS_LIMIT = env_int("ANSWER_GUESS_LIMIT", 20, minimum=1)
ANSWER_HIT_LIMIT = env_int("ANSWER_HIT_LIMIT", 60, minimum=1)

# --- Email ------------------------------------------------------------------------------

# Any Django email backend works (an anymail provider's in production). The default writes
# each message to var/mail/ and shows them to staff at /dev/mailbox/, so the demo needs no
# mail server.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "mailflow.localmail.EmailBackend")
# With DEBUG off the local mailbox is refused at startup (soc.E005): it sends nothing and
# shows every live answer link to whoever may read it. A public demo turns this on.
ALLOW_LOCAL_MAILBOX = env_bool("ALLOW_LOCAL_MAILBOX", False)
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "SOC <soc@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REPLY_DOMAIN = env_str("REPLY_DOMAIN", "reply.localhost")
# Questions go out with the envelope sender bounce+TOKEN@REPLY_DOMAIN where the backend
# honours it (mailflow.emails.BOUNCE_ADDRESS_BACKENDS), so bounces come home tied to their
# question. Off: the provider's own bounce address, as for every other backend (Amazon SES
# refuses a feedback address on a domain it has not verified).
EMAIL_BOUNCE_ADDRESS = env_bool("EMAIL_BOUNCE_ADDRESS", True)
# Emails per second handed to the provider, by all workers together (mailflow/pacing.py):
# set it to the account's quota (Amazon SES starts at 14). Empty: as fast as the workers go.
EMAIL_SEND_RATE = env_float("EMAIL_SEND_RATE")
# An out-of-office reply with a return date moves the question's deadline to that day plus
# this many working hours (Monday to Friday, 09:00-17:00 in TIME_ZONE; mailflow.away), as
# far as the step's away_max_days allows.
AWAY_GRACE_WORKING_HOURS = env_int("AWAY_GRACE_WORKING_HOURS", 8)
# Mailboxes polled for replies (mailflow.mailbox_polling; configured in the admin): how
# long one network step may take, the longest wait after repeated failures, and how many
# messages one poll stores before it lets the next poll carry on.
MAILBOX_TIMEOUT = env_int("MAILBOX_TIMEOUT", 30, minimum=1)
MAILBOX_BACKOFF_MAX = env_int("MAILBOX_BACKOFF_MAX", 1800, minimum=60)
MAILBOX_POLL_BATCH = env_int("MAILBOX_POLL_BATCH", 100, minimum=1)
# A PEM bundle of certificate authorities trusted for mail servers besides the system's
# (an on-premises server with an internal CA). Certificates are always verified.
MAILBOX_CA_FILE = env_str("MAILBOX_CA_FILE")

# Provider settings pass straight through: ANYMAIL_POSTMARK_SERVER_TOKEN becomes
# ANYMAIL["POSTMARK_SERVER_TOKEN"], and so on for every provider anymail supports.
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and value
}
ANYMAIL_WEBHOOK_SECRET = ANYMAIL.get("WEBHOOK_SECRET", "")

# --- Inbound SMTP (`manage.py smtpd`, docs/inbound-smtp.md) -----------------------------

# Where our own SMTP server listens for mail to REPLY_DOMAIN; the command's --host and
# --port override these. Loopback by default: port 25 is forwarded to it, or a relay
# delivers to it. 2525, not 25, so it runs without root.
SMTPD_HOST = env_str("SMTPD_HOST", "127.0.0.1")
SMTPD_PORT = env_int("SMTPD_PORT", 2525, minimum=1)
# Largest message accepted, in bytes (announced as SIZE; larger is refused with 552): as
# large as the webhooks take.
SMTPD_MAX_BYTES = env_int("SMTPD_MAX_BYTES", INBOUND_MAX_BYTES, minimum=1)
# A certificate chain and its key (PEM files): STARTTLS is offered when both are set.
SMTPD_TLS_CERT = env_str("SMTPD_TLS_CERT")
SMTPD_TLS_KEY = env_str("SMTPD_TLS_KEY")

# --- Background tasks (django-q2) -------------------------------------------------------

Q_BROKER = env_choice("Q_BROKER", "orm", ("orm", "redis"))
Q_CLUSTER = {
    "name": "soc",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A task that runs longer than `timeout` is killed; the broker hands it out again after
    # `retry`, which must be longer or a slow task would run twice at once.
    "timeout": 120,
    "retry": 180,
    "max_attempts": 5,
    "catch_up": False,
    # Failed tasks are kept (the admin's "Failed tasks"); successes are not: with a limit,
    # django-q2 locks and reads every kept success to prune one on each task, work every
    # task would pay for (bench/RESULTS.md, "What the misses meant"). What a task did is
    # on the incident's timeline.
    "save_limit": -1,
    "ack_failures": True,
    "label": "Background tasks",
}
# /readyz answers 503 once the oldest queued task has waited this many seconds, or a
# schedule is this late: no worker runs, or they are far behind. Above the retry period a
# killed task waits before it comes back, and two rounds of the 5-minute sweeps, so a busy
# minute is not an outage. 0: neither is checked.
READYZ_QUEUE_MAX_AGE = env_int("READYZ_QUEUE_MAX_AGE", 600, minimum=0)
# When set: the cache, and where the send rate is counted (the database otherwise).
REDIS_URL = env_str("REDIS_URL")
if Q_BROKER == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("Q_BROKER=redis needs REDIS_URL, e.g. redis://127.0.0.1:6379/0")
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Cache ------------------------------------------------------------------------------

# The answer page's rate limits and scanner detection count in the cache. LocMemCache
# counts per process: with several web processes set REDIS_URL so the counts are shared.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "soc",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Every timeline entry kind, with its label and data keys: each app lists the kinds it
# writes (dotted paths to lists of incidents.timeline_kinds.Kind). timeline_record refuses
# a kind not listed here, and a system check holds TIMELINE_SUBSCRIBERS and the runbook
# triggers to them.
TIMELINE_KINDS: list[str] = [
    "incidents.timeline_kinds.KINDS",
    "runbooks.timeline_kinds.KINDS",
    "mailflow.timeline_kinds.KINDS",
    "mailflow.approval_kinds.KINDS",
]

# The actions a runbook step can take (dotted paths to runbooks.actions.Action). Mailflow's
# ask_user and file_evidence take the place of the generic ones, which only wait.
RUNBOOK_ACTIONS: list[str] = [
    "runbooks.actions.create_task",
    "runbooks.actions.set_incident_state",
    "runbooks.actions.add_note",
    "runbooks.actions.assign",
    "mailflow.actions.ask_user",
    "mailflow.approvals.ask_approval",
    "runbooks.actions.complete_task",
    "runbooks.actions.mark_task_incomplete",
    "runbooks.actions.cancel_task",
    "mailflow.actions.file_evidence",
    "runbooks.actions.close_incident",
]

# After commit, the id of each timeline entry of the listed kinds is handed to the task
# function (dotted path), so higher layers react to what happened without the incident
# record importing them.
TIMELINE_SUBSCRIBERS: dict[str, list[str]] = {
    "runbooks.tasks.on_timeline_entry": ["incident.opened", "incident.state_changed"],
    "mailflow.tasks.on_timeline_entry": ["incident.state_changed"],
}

# Panels on the incident's admin page, in its summary header or below its form (as each
# Panel says; header panels in this order): each a function (dotted path) of the request
# and the incident that returns incidents.admin.panels.Panel or None, so higher
# layers show their part of the case without the incident admin importing them.
INCIDENT_PAGE_PANELS: list[str] = [
    "incidents.admin.details.incident_details_panel",
    "runbooks.admin_incident.incident_run_header_panel",
    "mailflow.admin_question.question_panel",
    "mailflow.admin_approvals.approvals_panel",
    "mailflow.admin_held_answers.held_answers_panel",
    "runbooks.admin_incident.incident_runbooks_panel",
]

# The figures on the dashboard above the admin index's app list: each a function (dotted
# path) of the user and the time that returns incidents.dashboard.Figures with only what
# that user may open, so each app shows its counts and charts without the frame importing
# it. Cached for a minute per function and permission set.
DASHBOARD_FIGURES: list[str] = [
    "incidents.dashboard_figures.incident_figures",
    "mailflow.dashboard_figures.mailflow_figures",
]

# Which incidents have a question to the affected person waiting for its answer (a
# function returning a queryset of incidents). Incidents cannot know: asking is mailflow's.
INCIDENT_WAITING_SELECTOR = "mailflow.selectors.incidents_waiting_for_answer"

# --- API --------------------------------------------------------------------------------

# Requests per minute for each API token (per user for browser sessions); over it: 429.
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 600, minimum=1)

REST_FRAMEWORK = {
    # Integrations send `Authorization: Bearer <token>`; analysts signed in to the admin
    # use the browsable API and the docs with their session. The token scheme comes first
    # so that anonymous requests get 401 with WWW-Authenticate rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The owner's model permissions (the admin groups), within the token's scope.
    "DEFAULT_PERMISSION_CLASSES": [
        "core.api.permissions.TokenScope",
        "core.api.permissions.ModelPermissions",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.TokenRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Cursor",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SOC confirm API",
    "DESCRIPTION": "Incidents for detection tools and integrations: open incidents that "
    "start runbooks, follow their tasks, questions, answers and timeline, and keep the "
    "directory in sync. Refused state changes answer 409, invalid input 400.",
    "VERSION": "1",
    # The schema is served at /api/schema/; it need not describe itself.
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar), never from a CDN: an
    # internal security tool loads no third-party script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, shared by every field and filter that uses it.
    "ENUM_NAME_OVERRIDES": {
        "IncidentStateEnum": "incidents.models.SecurityIncident.State",
        "PriorityEnum": "incidents.models.SecurityIncident.Priority",
        "TaskStateEnum": "incidents.models.ResponseTask.State",
        "ActorKindEnum": "incidents.models.ActorKind",
        "RunStateEnum": "runbooks.models.RunbookRun.State",
        "RequestStateEnum": "mailflow.models.ConfirmationRequest.State",
        "PersonKindEnum": "incidents.models.Person.Kind",
        "ConfigurationItemKindEnum": "incidents.models.ConfigurationItem.Kind",
    },
}

# --- Metrics (/metrics) -----------------------------------------------------------------

# Who may read /metrics: a bearer token, client networks (CIDR, the address as the rate
# limits read it, see TRUST_X_FORWARDED_FOR), or both (then both must pass). With
# neither the endpoint is off and answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

# --- Logging ----------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# "plain" lines as a person reads them, or "json": one object per line for a SIEM, with the
# request id, incident number and task name (core/logging.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
# One console handler; tokens and email addresses never reach a line (core/logging.py).
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)
