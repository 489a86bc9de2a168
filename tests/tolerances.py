"""Statistical tolerances for the tests, derived rather than guessed.

For n independent draws of a law with kurtosis kappa, the sample variance has a relative
standard error of sqrt((kappa - 1) / n). A check within Z of those standard errors fails
by chance with probability below 2e-9 for Z = 6 (and the seeds are fixed, so a run is
repeatable): a failure means the formula is wrong, not bad luck.
"""

import math

Z = 6.0
KURTOSIS = {"uniform": 1.8, "normal": 3.0, "truncated_normal": 3.0}  # 3 bounds the truncated law's (2.366 at +-2)


def variance_tolerance(n: int, law: str) -> float:
    """Relative tolerance on a sample variance of ``n`` draws."""
    return Z * math.sqrt((KURTOSIS[law] - 1) / n)


def assert_variance(tensor, expected: float, law: str) -> None:
    n = tensor.numel()
    realised = float(tensor.double().pow(2).mean())  # the mean is 0 by construction: use the second moment
    tol = variance_tolerance(n, law)
    assert abs(realised / expected - 1) < tol, (
        f"realised variance {realised:.6g} vs expected {expected:.6g}: relative error "
        f"{realised / expected - 1:+.4f} exceeds {tol:.4f} ({Z:g} standard errors for n={n}, {law})"
    )
