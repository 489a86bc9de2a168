"""Gains: the factor on the standard deviation that undoes what a nonlinearity does to the variance.

The values are ``torch.nn.init.calculate_gain``'s, so the two libraries are interchangeable.
Where a value is derived (ReLU, leaky ReLU) :mod:`initlib.theory.symbolic` derives it; where it is
empirical (tanh 5/3, SELU 3/4) the docstring says so.
"""

from __future__ import annotations

import math

from .._checks import check_choice, check_real
from . import activations

LINEAR_NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
NONLINEARITIES = LINEAR_NONLINEARITIES + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for a nonlinearity (same values as ``torch.nn.init``).

    ============================  ===========================  ==========================================
    nonlinearity                  gain                         where it comes from
    ============================  ===========================  ==========================================
    linear, conv*, sigmoid        1                            no correction (sigmoid: by convention)
    tanh                          5/3                          empirical (PyTorch's choice)
    relu                          sqrt(2)                      He et al. 2015, eq. (10): E[relu(y)^2] = Var[y]/2
    leaky_relu                    sqrt(2 / (1 + slope^2))      He et al. 2015, eq. (15)
    selu                          3/4                          empirical (PyTorch PR 50664)
    ============================  ===========================  ==========================================

    ``param`` is the leaky ReLU's negative slope (default
    :data:`initlib.activations.DEFAULT_NEGATIVE_SLOPE`, torch's 0.01); other nonlinearities ignore it.

    >>> calculate_gain("relu")
    1.4142135623730951
    >>> calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    check_choice(nonlinearity, "nonlinearity", NONLINEARITIES)
    if nonlinearity in LINEAR_NONLINEARITIES or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = (
            activations.DEFAULT_NEGATIVE_SLOPE
            if param is None
            else check_real(param, "param (the leaky_relu negative slope)")
        )
        try:
            return math.sqrt(2.0 / (1 + slope**2))  # torch's expression, so the floats agree
        except OverflowError:  # |slope| > ~1e154: 1 + slope^2 = slope^2 to float precision
            return math.sqrt(2.0) / abs(slope)
    return 3.0 / 4  # selu
