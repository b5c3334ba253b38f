"""Test settings: the project's settings with test-only defaults from the environment."""

from __future__ import annotations

import os
import uuid

# Long enough for the production guards (eventcapture/guards.py), which the suite's workers and
# servers run with DEBUG off as production does.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-long-enough-for-the-production-guards")
# The origin the suite's browser requests come from (by default no origin is allowed).
os.environ.setdefault("CORS_ALLOWED_ORIGIN_REGEXES", r"^https://openstax\.org$")
# A Redis database of its own, so tests never consume tasks queued by `make run`.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REGISTRY_CACHE_SECONDS", "0")
# The live numbers written as each group is delivered, so tests read them at once (the buffered
# writes have tests of their own).
os.environ.setdefault("EVENT_COUNTS_FLUSH_SECONDS", "0")
# Rate-limit counters in a Redis database of their own; limits the suite never reaches (the
# rate-limit tests set their own low ones).
os.environ.setdefault("RATELIMIT_CACHE_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("RATE_LIMIT_PER_IP", "100000/min")
os.environ.setdefault("RATE_LIMIT_PER_USER", "100000/min")
os.environ.setdefault("RATE_LIMIT_REGISTRY_PER_IP", "100000/min")
# Topics of this run's own on the shared development broker: `make run`'s topics never see test
# records, and no run reads another's records (whose schema ids its fresh database lacks). The
# `kafka_topics` fixture deletes them at the end.
os.environ.setdefault("KAFKA_TOPIC_PREFIX", f"test.{uuid.uuid4().hex[:8]}.")

from eventcapture.settings import *  # noqa: F403
from eventcapture.settings import BASE_DIR, DATABASES, STORAGES

# A file, not memory: the live server, the worker thread and the test share committed data.
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # .stack/ exists once the stack ran; a fresh clone's `make test-unit` creates it here.
    (BASE_DIR / ".stack").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"]["NAME"] = str(BASE_DIR / ".stack" / "test-db.sqlite3")

# No collectstatic before tests: the admin's pages render without a manifest.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Static files come from the apps' folders, as in development: there is no collectstatic here.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
