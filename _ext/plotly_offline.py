"""A Sphinx extension: plotly.js from the pinned plotly package, on the pages that draw a plotly figure.

The notebooks store each plotly figure as HTML that calls ``Plotly.newPlot`` without the 4.8 MB
library (``include_plotlyjs=False``, which keeps the stored outputs small). This extension copies
``plotly.min.js`` out of the installed plotly package into the build's ``_static/`` and loads it,
before the page's own scripts, on exactly the pages whose body holds a plotly figure. No CDN: the
site works offline, and the library is always the version requirements.txt pins.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import plotly

SOURCE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
MARKER = 'class="plotly-graph-div"'  # what plotly's to_html writes around every figure


def _stage(app, config):
    """Sphinx copies html_static_path into _static; stage a folder that holds only plotly.min.js."""
    staging = Path(app.doctreedir) / "plotly_static"
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, staging / SOURCE.name)
    config.html_static_path.append(str(staging))


def _load_on_figure_pages(app, pagename, templatename, context, doctree):
    if MARKER in context.get("body", ""):
        app.add_js_file(SOURCE.name)  # inside html-page-context: this page only


def setup(app):
    app.connect("config-inited", _stage)
    app.connect("html-page-context", _load_on_figure_pages)
    return {"version": plotly.__version__, "parallel_read_safe": True, "parallel_write_safe": True}
