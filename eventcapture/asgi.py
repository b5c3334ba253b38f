"""The ASGI application. It refuses to load with settings unsafe for production
(eventcapture/guards.py), before anything is served."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from eventcapture.guards import production_guards

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventcapture.settings")

production_guards()

application = get_asgi_application()
