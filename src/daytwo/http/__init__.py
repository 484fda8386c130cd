"""The HTTP layer every domain's ``api.py`` and ``views.py`` build on, below the domains.

- ``access``: who is asking (API keys, sessions) and what they may do (scopes, deployments);
- ``deps``: the dependency aliases a route asks for (settings, stores);
- ``params``: the query parameters the read APIs share (a slice of interactions);
- ``scope``: what a page looks at, read from and written back to the URL;
- ``templating`` and ``filters``: the one Jinja environment of the pages.

The application itself (``create_app``, middleware, error handlers, which routers are
mounted) is assembled at the edge, in :mod:`daytwo.server`.
"""
