"""The depth-limit rule of initlib.theory.trainability, on accuracy curves whose answer is known."""

import math

import pytest

from initlib.theory import trainability


def test_the_limit_interpolates_the_crossing_in_log_depth():
    # accuracy 0.9 at 20 layers, 0.1 at 80: a threshold at the middle is crossed at sqrt(20 * 80) = 40
    assert trainability.depth_limit([10, 20, 80], [0.9, 0.9, 0.1], 0.5) == pytest.approx(40.0)
    # a threshold a quarter of the way down is crossed a quarter of the way in log-depth
    assert trainability.depth_limit([20, 80], [0.9, 0.1], 0.7) == pytest.approx(20 * 4**0.25)


def test_the_first_failure_ends_the_walk():
    # a net that fails at 30 layers and recovers at 40 (noise) has its limit below 30
    limit = trainability.depth_limit([10, 20, 30, 40], [0.9, 0.8, 0.2, 0.9], 0.5)
    assert 20 < limit < 30


def test_all_train_is_infinite_and_the_shallowest_failing_is_zero():
    assert trainability.depth_limit([10, 20, 40], [0.6, 0.7, 0.5], 0.5) == math.inf
    assert trainability.depth_limit([10, 20, 40], [0.4, 0.9, 0.9], 0.5) == 0.0


def test_within_factor():
    assert trainability.within_factor(44.0, 22.0) and trainability.within_factor(11.0, 22.0)
    assert not trainability.within_factor(44.1, 22.0) and not trainability.within_factor(10.9, 22.0)
    assert not trainability.within_factor(math.inf, 95.0) and not trainability.within_factor(40.0, math.inf)
    assert trainability.within_factor(30.0, 22.0, factor=1.5)


@pytest.mark.parametrize(
    "args, match",
    [
        (([10, 20], [0.5], 0.5), "same, nonzero length"),
        (([], [], 0.5), "same, nonzero length"),
        (([20, 10], [0.5, 0.5], 0.5), "depths must increase"),
        (([10, -20], [0.5, 0.5], 0.5), r"depths\[1\] must be positive"),
        (([10, 20], [0.5, "high"], 0.5), r"accuracy\[1\] must be a real number"),
        (([10, 20], [0.5, 0.5], None), "threshold must be a real number"),
    ],
)
def test_bad_input_names_the_parameter(args, match):
    with pytest.raises(ValueError, match=match):
        trainability.depth_limit(*args)


def test_bad_factor():
    with pytest.raises(ValueError, match="factor must be positive"):
        trainability.within_factor(1.0, 1.0, factor=0)
