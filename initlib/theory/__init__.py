"""Theory: the variance laws' predictions, mean field, symbolic derivations and trainable depth.

``initlib.theory.predict`` and its siblings live in :mod:`initlib.theory.variance`; the
mean-field maps in :mod:`initlib.theory.meanfield`, re-exported here.
"""

from . import meanfield, symbolic, trainability, variance
from .meanfield import (
    chi_1,
    correlation_fixed_point,
    correlation_map,
    critical_sigma_w2,
    depth_scales,
    fixed_point,
    gaussian_mean,
    layer_curves,
    q_map,
)
from .variance import (
    METHODS,
    attach,
    derivative_moment,
    init_variance,
    log_variance_wander,
    predict,
    second_moment,
    unit_kurtosis,
    weight_grad_vars,
)

__all__ = [
    "METHODS",
    "attach",
    "chi_1",
    "correlation_fixed_point",
    "correlation_map",
    "critical_sigma_w2",
    "depth_scales",
    "derivative_moment",
    "fixed_point",
    "gaussian_mean",
    "init_variance",
    "layer_curves",
    "log_variance_wander",
    "meanfield",
    "predict",
    "q_map",
    "second_moment",
    "symbolic",
    "trainability",
    "unit_kurtosis",
    "variance",
    "weight_grad_vars",
]
