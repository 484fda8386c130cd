"""The one Jinja environment of the web UI."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from daytwo import __version__
from daytwo.web import filters

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__
templates.env.filters["thousands"] = lambda n: f"{n:,}"
filters.install(templates.env)
