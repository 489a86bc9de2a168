"""Long runs that regenerate the papers' results, each with presets ``quick``, ``cpu`` and ``paper``.

Every script writes ``results/NAME.json`` through :mod:`initlib.course.results`, with its provenance.
``python -m reproductions --preset cpu`` (or ``make reproduce PRESET=cpu``) runs them all.
"""

SCRIPTS = ("glorot_table1", "he_fig3", "trainable_depth")
