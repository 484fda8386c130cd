"""The app for an ASGI server that starts its own worker processes (``daytwo serve --workers``,
or ``uvicorn daytwo.server.asgi:app_from_environment --factory``): each worker builds it from
the ``DAYTWO_*`` environment."""

from __future__ import annotations

from fastapi import FastAPI

from daytwo.server.app import create_app
from daytwo.settings import Settings


def app_from_environment() -> FastAPI:
    return create_app(Settings())
