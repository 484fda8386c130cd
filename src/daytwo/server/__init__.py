"""The HTTP service: `create_app(settings)` builds it; nothing here is global."""

from daytwo.server.app import create_app

__all__ = ["create_app"]
