"""Server-rendered pages (Jinja2); assets are vendored under static/."""
