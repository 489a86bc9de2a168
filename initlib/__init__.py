"""initlib: neural-network weight initialization, derived, measured and explained.

The initializers mirror ``torch.nn.init`` (same names, defaults and laws) with stricter
checks, and add the variance-scaling rule of Keras and JAX::

    >>> import torch, initlib
    >>> w = initlib.xavier_uniform_(torch.empty(300, 200))
    >>> abs(float(w.var()) - 2 / 500) < 2e-4
    True

The package is layered; each layer imports only those above it:

* :mod:`initlib.laws` -- the initializers, fans, gains, variance schemes, module-aware init;
* :mod:`initlib.measure` -- hooks, probes, propagation, training, audits, width tools;
* :mod:`initlib.theory` -- closed forms, mean field, symbolic derivations, trainable depth;
* :mod:`initlib.course` -- the course's presets, data, demos, plotting and stored results,
  which the library never imports.
"""

from . import theory
from ._checks import InitTypeError
from .laws import activations, schemes
from .laws.fans import fan_in_and_fan_out, use_fans
from .laws.gains import calculate_gain
from .laws.initializers import (
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
from .laws.modules import Fans, LeftAloneWarning, init_module, module_fans
from .laws.residual import residual_init_
from .laws.schemes import SCHEMES, get_scheme
from .laws.tied import TiedWeightWarning
from .measure import width
from .measure.audit import Audit, audit
from .measure.devices import device
from .measure.doctor import Diagnosis, Verdict, doctor
from .measure.hooks import Hooks, hooks
from .measure.lsuv import LSUVReport, lsuv_
from .measure.probe import ProbeResult, probe
from .measure.propagation import Propagation, propagate
from .measure.record import Record
from .measure.spec import MLP, Histograms
from .measure.training import TrainResult, train

__version__ = "0.1.0"

__all__ = [  # sorted; what a practitioner imports
    "activations",
    "Audit",
    "audit",
    "calculate_gain",
    "constant_",
    "delta_orthogonal_",
    "device",
    "Diagnosis",
    "dirac_",
    "doctor",
    "eye_",
    "fan_in_and_fan_out",
    "Fans",
    "get_scheme",
    "glorot_normal_",
    "glorot_uniform_",
    "he_normal_",
    "he_uniform_",
    "Histograms",
    "Hooks",
    "hooks",
    "init_module",
    "InitTypeError",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "LeftAloneWarning",
    "lsuv_",
    "LSUVReport",
    "MLP",
    "module_fans",
    "normal_",
    "ones_",
    "orthogonal_",
    "probe",
    "ProbeResult",
    "propagate",
    "Propagation",
    "pytorch_default_",
    "Record",
    "residual_init_",
    "SCHEMES",
    "schemes",
    "sparse_",
    "standard_uniform_",
    "theory",
    "TiedWeightWarning",
    "train",
    "TrainResult",
    "trunc_normal_",
    "truncated_normal_std",
    "uniform_",
    "use_fans",
    "variance_scaling_",
    "Verdict",
    "width",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
