"""The WSGI application (gunicorn ``eventcapture.wsgi``, ``runserver``). It refuses to load with
settings unsafe for production (eventcapture/guards.py), before anything is served."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from eventcapture.guards import production_guards

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventcapture.settings")

production_guards()

application = get_wsgi_application()
