"""The one Jinja environment of the web UI, which every domain's pages render with.

The templates and static files themselves live with the web UI (``daytwo/web/``); the
environment lives here, below the domains, so their ``views.py`` need nothing from the edge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request
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


def data_freshness(request: Request) -> tuple[str, str] | None:
    """How current the page's figures are, as (label, tooltip); None when every read is exact.

    Under ``serve`` the rollups and the search index are refreshed off the request path, so a
    page reads them as last refreshed instead of waiting for the writes arriving meanwhile.
    """
    events = getattr(request.app.state, "events", None)
    if events is None:
        return None
    fresh = events.freshness()
    if fresh.live:
        return None
    if fresh.as_of is None:
        return "figures: first refresh running", "New data is being summarised for the first time."
    at = fresh.as_of.astimezone(UTC)
    stamp = at.strftime("%H:%M:%S UTC")
    if not fresh.behind:
        return f"figures current · {stamp}", "Every interaction received is in these figures."
    behind = max(0, round((datetime.now(UTC) - at).total_seconds()))
    return (
        f"figures as of {stamp} · {behind} s behind",
        "Interactions arrived since; they are summarised within seconds, off the request path.",
    )


templates.env.globals["data_freshness"] = data_freshness
