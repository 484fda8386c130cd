"""The one Jinja environment of the web UI, which every domain's pages render with.

The templates and static files themselves live with the web UI (``daytwo/web/``); the
environment lives here, below the domains, so their ``views.py`` need nothing from the edge.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from daytwo import __version__
from daytwo.http import filters

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["version"] = __version__
templates.env.filters["thousands"] = lambda n: f"{n:,}"
filters.install(templates.env)
