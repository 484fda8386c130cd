"""The HTTP service, assembled: `create_app(settings)` mounts every domain's routers behind the
middleware and error handlers; nothing here is global. What the routes themselves import
(access, dependencies, shared parameters, templating) is in :mod:`daytwo.http`."""

from daytwo.server.app import create_app

__all__ = ["create_app"]
