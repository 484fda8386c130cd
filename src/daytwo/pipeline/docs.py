"""Render every detector an analysis runs as Markdown, the contributed ones included:
`python -m daytwo.pipeline.docs > docs/detectors.md` (what `make docs` runs)."""

from __future__ import annotations

import sys

from daytwo.detect.docs import render_detectors_markdown
from daytwo.pipeline.plugins import plugin_manager


def render() -> str:
    """The detector catalog once the pipeline's plugins have registered their detectors."""
    plugin_manager()
    return render_detectors_markdown()


if __name__ == "__main__":
    sys.stdout.write(render())
