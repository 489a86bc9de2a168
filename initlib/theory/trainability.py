"""How deep a network still trains: the measured depth limit, beside mean-field theory's 6 xi_c.

Schoenholz et al. (2017) trained tanh nets over a grid of (sigma_w^2, depth) and found that a net
trains when its depth is below about 6 xi_c, the correlation depth scale of
:func:`initlib.theory.meanfield.depth_scales` (infinite on the critical line). To compare a grid of
trained nets with that line, each sigma_w^2 needs one measured number: its depth limit.

The rule (:func:`depth_limit`): walk the tested depths from the shallowest; the net "trains" at a
depth when its accuracy is at least ``threshold``. The limit is where the accuracy curve crosses
the threshold between the last depth that trains and the first that does not, interpolated
linearly in log-depth (the depths are roughly geometric); ``inf`` when every tested depth trains
(the limit lies beyond the range), ``0`` when the shallowest already fails.

>>> depth_limit([10, 20, 40, 80], [0.9, 0.9, 0.5, 0.1], threshold=0.5)
40.0
>>> round(depth_limit([10, 20, 40, 80], [0.9, 0.9, 0.3, 0.1], threshold=0.6), 1)
28.3
>>> depth_limit([10, 20], [0.9, 0.9], threshold=0.5), depth_limit([10, 20], [0.1, 0.9], threshold=0.5)
(inf, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._checks import check_positive, check_real


def depth_limit(depths: Sequence[float], accuracy: Sequence[float], threshold: float) -> float:
    """The deepest depth at which a net still trains, by the rule in the module docstring.

    ``depths``: increasing tested depths; ``accuracy``: one accuracy per depth (same length);
    ``threshold``: the accuracy that counts as "trains".
    """
    depths, accuracy = _checked(depths, accuracy)
    threshold = check_real(threshold, "threshold")
    if accuracy[0] < threshold:
        return 0.0
    for k in range(1, len(depths)):
        if accuracy[k] < threshold:
            lo, hi = math.log(depths[k - 1]), math.log(depths[k])
            t = (accuracy[k - 1] - threshold) / (accuracy[k - 1] - accuracy[k])
            return float(math.exp(lo + t * (hi - lo)))
    return math.inf


def within_factor(measured: float, predicted: float, factor: float = 2.0) -> bool:
    """``predicted / factor <= measured <= predicted * factor``: how close the paper's rule of
    thumb is expected to hold (it is a rule of thumb, and the prefactor 6 is empirical).

    >>> within_factor(40.0, 22.0), within_factor(100.0, 42.0), within_factor(math.inf, math.inf)
    (True, False, True)
    """
    factor = check_positive(factor, "factor")
    if math.isinf(predicted) or math.isinf(measured):
        return math.isinf(predicted) and math.isinf(measured)
    return predicted / factor <= measured <= predicted * factor


def _checked(depths, accuracy) -> tuple[list[float], list[float]]:
    depths = [check_positive(d, f"depths[{k}]") for k, d in enumerate(depths)]
    accuracy = [check_real(a, f"accuracy[{k}]") for k, a in enumerate(accuracy)]
    if not depths or len(depths) != len(accuracy):
        raise ValueError(f"depths and accuracy need the same, nonzero length; got {len(depths)} and {len(accuracy)}")
    if any(b <= a for a, b in zip(depths, depths[1:])):
        raise ValueError(f"depths must increase, got {depths}")
    return depths, accuracy
