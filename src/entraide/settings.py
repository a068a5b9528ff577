"""Django settings for Entraide, read from the environment with safe embedded defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("ENTRAIDE_DATA_DIR", PACKAGE_DIR.parents[1] / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The SECRET_KEY from the environment, else one generated once into the data dir."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("ENTRAIDE_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "entraide.org",
    "entraide.secrecy",
    "entraide.people",
    "entraide.cases",
    "entraide.telecare",
    "entraide.screening",
    "entraide.territory",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "entraide.urls"
WSGI_APPLICATION = "entraide.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'entraide.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while a writer commits; IMMEDIATE avoids lock-upgrade deadlocks;
    # secure_delete zeroes what is deleted or rewritten, so that no clear text from before a
    # correction or a migration lingers in free pages of the file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

AUTH_USER_MODEL = "org.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-free meta tag instead
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

ENTRAIDE_TIMELINE_PAGE_SIZE = 20
ENTRAIDE_API_PAGE_MAX = 200

ENTRAIDE_BREAK_GLASS_MINUTES = int(os.environ.get("ENTRAIDE_BREAK_GLASS_MINUTES", "60"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "entraide@localhost")

# Retention (entraide retention apply): closed case files are anonymised after this many years.
ENTRAIDE_RETENTION = {
    "closed_case_file_years": int(os.environ.get("ENTRAIDE_RETENTION_CLOSED_YEARS", "5")),
}
# Behind a reverse proxy that sets X-Real-IP, the audit records the client's address from it.
ENTRAIDE_TRUST_X_REAL_IP = os.environ.get("ENTRAIDE_TRUST_X_REAL_IP", "0") == "1"

# Telecare: the broker the bridge listens to (default: the embedded one, not Mosquitto's 1883).
ENTRAIDE_EMBEDDED_MQTT_PORT = int(os.environ.get("ENTRAIDE_EMBEDDED_MQTT_PORT", "18830"))
# Blind-spot screening: feed values (Parquet, pseudonymous) and models live here.
ENTRAIDE_SCREENING_DIR = Path(os.environ.get("ENTRAIDE_SCREENING_DIR", DATA_DIR / "screening"))

MQTT_URL = os.environ.get("MQTT_URL", f"mqtt://127.0.0.1:{ENTRAIDE_EMBEDDED_MQTT_PORT}")
ENTRAIDE_TELECARE_FLOOD_RATE = float(os.environ.get("ENTRAIDE_TELECARE_FLOOD_RATE", "1"))
ENTRAIDE_TELECARE_FLOOD_BURST = float(os.environ.get("ENTRAIDE_TELECARE_FLOOD_BURST", "60"))
ENTRAIDE_TELECARE_SNAPSHOT_SECONDS = float(
    os.environ.get("ENTRAIDE_TELECARE_SNAPSHOT_SECONDS", "10"))

# Welfare map: tiles from this URL template (empty: no tiles, boundaries and points only).
MAP_TILES_URL = os.environ.get("MAP_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILES_ATTRIBUTION = os.environ.get("MAP_TILES_ATTRIBUTION", "© OpenStreetMap contributors")
# Visit routes: straight-line distance × detour factor, at this average speed.
ROUTE_SPEED_KMH = float(os.environ.get("ROUTE_SPEED_KMH", "35"))
ROUTE_DETOUR = float(os.environ.get("ROUTE_DETOUR", "1.3"))
