"""initlib: neural-network weight initialization, derived, measured and explained.

The initializers mirror ``torch.nn.init`` (same names, defaults and laws) with stricter
checks, and add the variance-scaling rule of Keras and JAX::

    >>> import torch, initlib
    >>> w = initlib.xavier_uniform_(torch.empty(300, 200))
    >>> abs(float(w.var()) - 2 / 500) < 2e-4
    True
"""

from . import activations, schemes, symbolic
from .devices import device
from . import theory
from .hooks import Hooks, hooks
from .probe import ProbeResult, probe
from .propagation import Propagation, propagate
from .record import Record
from .spec import MLP, Histograms
from . import data
from .training import TrainResult, train
from ._checks import InitTypeError
from .fans import fan_in_and_fan_out, use_fans
from .gains import calculate_gain
from .schemes import SCHEMES, get_scheme
from .initializers import (
    constant_,
    delta_orthogonal_,
    dirac_,
    eye_,
    glorot_normal_,
    glorot_uniform_,
    he_normal_,
    he_uniform_,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    normal_,
    ones_,
    orthogonal_,
    pytorch_default_,
    sparse_,
    standard_uniform_,
    trunc_normal_,
    truncated_normal_std,
    uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from .modules import Fans, LeftAloneWarning, init_module, module_fans
from .audit import Audit, audit
from .residual import residual_init_
from .lsuv import LSUVReport, lsuv_
from .doctor import Diagnosis, Verdict, doctor
from .tied import TiedWeightWarning
from . import demos, results
from . import width

__version__ = "0.1.0"

__all__ = [
    "ProbeResult", "Propagation", "SCHEMES", "calculate_gain", "constant_", "device", "fan_in_and_fan_out", "get_scheme",
    "glorot_normal_", "glorot_uniform_", "he_normal_", "he_uniform_", "init_module", "kaiming_normal_",
    "kaiming_uniform_", "lecun_normal_", "lecun_uniform_", "normal_", "ones_", "orthogonal_",
    "propagate", "pytorch_default_", "standard_uniform_", "trunc_normal_", "truncated_normal_std", "uniform_",
    "variance_scaling_", "xavier_normal_", "xavier_uniform_", "zeros_",
    "TrainResult", "data", "train",
    "Audit", "Fans", "InitTypeError", "LeftAloneWarning", "audit", "delta_orthogonal_", "dirac_", "eye_", "module_fans", "sparse_",
    "use_fans", "demos", "residual_init_", "results",
    "activations", "probe", "schemes",
    "LSUVReport", "lsuv_",
    "Hooks", "hooks",
    "Diagnosis", "Verdict", "doctor", "TiedWeightWarning",
    "MLP", "Histograms", "Record",
]
