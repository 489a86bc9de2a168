"""The course's layer: presets, data, demo models, plotting and stored results; the library never imports it."""

from . import data, demos, plotting, presets, results

__all__ = ["data", "demos", "plotting", "presets", "results"]
