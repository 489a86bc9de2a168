"""Command line: ``python -m initlib propagate ...`` and ``python -m initlib train ...`` (or ``initlib ...``).

``propagate`` measures one forward and one backward pass through a fresh deep net
(:func:`initlib.propagate`) and prints a per-layer table, or JSON with ``--json``::

    python -m initlib propagate --depth 50 --width 256 --activation relu --init kaiming_normal --json
    python -m initlib propagate --widths 784,1000,500,250,10 --activation tanh --init xavier_uniform

``train`` trains an MLP on Shapeset-3x2 (:func:`initlib.train`) and prints its curves::

    python -m initlib train --depth 5 --width 1000 --activation tanh --init standard_uniform --steps 2000

``audit`` reports a model's initialization per parameter (:func:`initlib.audit`): a demo model
(mlp, cnn, resnet, transformer, lstm) or any ``package.module:factory``::

    python -m initlib audit transformer
    python -m initlib audit torch.nn:Conv2d \
        --kwargs '{"in_channels": 64, "out_channels": 64, "kernel_size": 3, "groups": 64}' --json

``probe`` measures any model (:func:`initlib.probe`): a demo of :mod:`initlib.course.demos` (mlp, cnn,
resnet, transformer, lstm) or ``package.module:factory``::

    python -m initlib probe resnet --kwargs '{"blocks": 20}' --json

``doctor`` diagnoses a model's start (:func:`initlib.doctor`): exit 0 healthy, 1 problems found::

    python -m initlib doctor initlib.course.demos:transformers_model --kwargs '{"model": "GPT2LMHeadModel"}' \
        --input-shape 2,32 --tokens 1000

Sizes default to the preset (``--preset quick|paper``; ``quick`` on a CPU, ``paper`` with CUDA).
Bad flags or values: a message naming the problem, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from .laws import activations
from .laws.schemes import SCHEMES
from .measure import training
from .measure.propagation import DTYPES
from .theory import variance as theory

EXIT_USAGE = 2
PROBE_COLUMNS = ("name", "type", "out_mean", "out_var", "grad_out_var", "weight_grad_var")
TABLE_COLUMNS = (
    "layer",
    "fan_in",
    "fan_out",
    "pre_var",
    "theory_pre_var",
    "act_mean",
    "act_var",
    "grad_var",
    "theory_grad_var",
    "saturation",
)


def _parse_widths(text: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers like 784,256,10; got {text!r}") from None
    if len(widths) < 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"needs at least two positive sizes (input, then layers); got {text!r}")
    return widths


def _number(convert, accept, what: str):
    """An argparse ``type`` that converts with ``convert`` and keeps only values ``accept`` allows."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive finite number")


def _init_arg(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for the initializer; VALUE becomes an int, a float or stays a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE (e.g. gain=1.5, nonlinearity=tanh); got {text!r}")
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


def _common(parser: argparse.ArgumentParser, activation: str, init: str, depth_help: str, width_help: str) -> None:
    shape = parser.add_argument_group("network shape (default: the preset's)")
    shape.add_argument(
        "--widths", type=_parse_widths, metavar="N0,N1,...", help="every width, input first (excludes --depth/--width)"
    )
    shape.add_argument("--depth", type=_positive_int, help=depth_help)
    shape.add_argument("--width", type=_positive_int, help=width_help)
    parser.add_argument("--activation", default=activation, choices=activations.NAMES, help=f"default {activation}")
    parser.add_argument(
        "--init",
        default=init,
        choices=sorted(SCHEMES),
        metavar="SCHEME",
        help=f"an initlib scheme (default {init}): {', '.join(sorted(SCHEMES))}",
    )
    parser.add_argument(
        "--init-arg",
        type=_init_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword for the initializer, repeatable (e.g. --init-arg nonlinearity=tanh)",
    )
    parser.add_argument("--seed", type=_nonnegative_int, default=0, help="default 0")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="default auto (CUDA if present, else CPU)",
    )
    parser.add_argument("--preset", choices=("quick", "paper"), help="default sizes: quick on a CPU, paper with CUDA")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", metavar="FILE.png", help="save the figure to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="initlib", description="Measure deep nets at initialization, or train them, from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{propagate,train,audit,probe,doctor}")
    _add_propagate(sub)
    _add_train(sub)
    _audit_parser(sub)
    _add_probe(sub)
    _add_doctor(sub)
    return parser


def _add_propagate(sub) -> None:
    prop = sub.add_parser(
        "propagate",
        help="one forward and backward pass, statistics per layer",
        description="One forward and one backward pass through a fresh net (initlib.propagate): "
        "per-layer variances beside initlib.theory's predictions.",
    )
    _common(prop, "relu", "kaiming_normal", "number of weight layers", "width of the input and of every layer")
    prop.set_defaults(subparser=prop)
    prop.add_argument("--batch", type=_positive_int, help="examples (default: the preset's)")
    prop.add_argument(
        "--negative-slope", type=float, help=f"leaky_relu's slope (default {activations.DEFAULT_NEGATIVE_SLOPE})"
    )
    prop.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default="float32",
        help="float64 keeps very deep vanishing/exploding nets finite",
    )
    prop.add_argument(
        "--theory",
        choices=theory.METHODS,
        default="paper",
        help="paper: closed forms + linear regime; mean_field: exact Gaussian moments",
    )
    prop.add_argument(
        "--jacobian",
        type=_nonnegative_int,
        default=0,
        metavar="K",
        help="singular values of each layer's Jacobian for K examples (Glorot eq. 17)",
    )
    prop.add_argument("--hist-bins", type=_nonnegative_int, default=0, help="histogram bins (default 0: none)")


def _add_train(sub) -> None:
    tr = sub.add_parser(
        "train",
        help="train an MLP on Shapeset-3x2 and print its curves",
        description="Train an MLP (softmax + NLL) on Shapeset-3x2 (initlib.train). "
        "--depth/--width give the hidden layers; input 1024 and 9 classes are added.",
    )
    _common(tr, "tanh", "xavier_uniform", "number of hidden layers", "width of every hidden layer")
    tr.set_defaults(subparser=tr)
    tr.add_argument("--steps", type=_nonnegative_int, help="updates (default: the preset's)")
    lr, batch = training.DEFAULT_LR, training.DEFAULT_BATCH
    tr.add_argument("--lr", type=_positive_float, default=lr, help=f"learning rate (default {lr:g})")
    tr.add_argument("--batch", type=_positive_int, default=batch, help=f"examples per update (default {batch})")
    tr.add_argument("--optimizer", choices=training.OPTIMIZERS, default="sgd", help="default sgd")
    tr.add_argument("--record-every", type=_positive_int, help="updates between records (default steps/20)")
    tr.add_argument("--csv", metavar="FILE", help="also write the curves as CSV ('-': standard output)")


def _add_doctor(sub) -> None:
    doc = _model_parser(
        sub,
        "doctor",
        help="is the model's start healthy? verdicts, fixes and their measured effect",
        description="Diagnose a model's initialization (initlib.doctor): audit, a probe at "
        "initialization and an extrapolation over depth; each problem with its fix, "
        "measured on a copy. Exit 0 healthy, 1 problems found, 2 bad input.",
    )
    doc.add_argument("--plot", metavar="FILE.png", help="save the per-module signal plot to this file")
    _input_options(doc)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f"must be a JSON object like '{{\"width\": 32}}'; got {text!r} ({err})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"width\": 32}}'; got {text!r}")
    return value


def _model_parser(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand that builds a model from SPEC (a demo or package.module:factory): audit, probe."""
    from .course.demos import DEMOS

    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(subparser=parser)
    parser.add_argument("spec", metavar="SPEC", help=f"a demo model ({', '.join(DEMOS)}) or package.module:factory")
    parser.add_argument(
        "--kwargs",
        type=_json_object,
        default={},
        metavar="JSON",
        help="keyword arguments for the factory, as a JSON object",
    )
    parser.add_argument("--seed", type=_nonnegative_int, default=0, help="seed for the weights (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _audit_parser(sub) -> None:
    _model_parser(
        sub,
        "audit",
        help="each parameter's fans, variance factors, matching law and traps",
        description="Audit a model's initialization (initlib.audit): per parameter its fans "
        "(initlib.module_fans), fan_in E[W^2], fan_out E[W^2], the known law it "
        "matches, and notes on the known traps.",
    )


def _add_probe(sub) -> None:
    pr = _model_parser(
        sub,
        "probe",
        help="per-module statistics of any model, one forward and backward pass",
        description="One forward and one backward pass through a model (initlib.probe): mean "
        "and variance of every parameterised module's output, of the gradient there, "
        "and of its weights' gradient.",
    )
    pr.add_argument("--hist-bins", type=_nonnegative_int, default=0, help="histogram bins (default 0: none)")
    pr.add_argument("--plot", metavar="FILE.png", help="save the figure to this file")
    _input_options(pr)


def _parse_shape(text: str) -> tuple:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers like 8,3,32,32; got {text!r}"
        ) from None
    if min(shape) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers like 8,3,32,32; got {text!r}")
    return shape


def _input_options(parser) -> None:
    parser.add_argument(
        "--input-shape",
        type=_parse_shape,
        metavar="N,...",
        help="feed a standard-normal batch of this shape (for a factory that returns no inputs)",
    )
    parser.add_argument(
        "--tokens",
        type=_positive_int,
        metavar="V",
        help="with --input-shape: token ids in [0, V) instead of normal values",
    )


def _widths(args, parser, preset, train: bool) -> list[int]:
    from .course.data import NUM_CLASSES, SIDE

    if args.widths is not None:
        if args.depth is not None or args.width is not None:
            parser.error("give either --widths or --depth/--width, not both")
        if train and (args.widths[0] != SIDE * SIDE or args.widths[-1] != NUM_CLASSES):
            parser.error(
                f"--widths for train must start with {SIDE * SIDE} (Shapeset-3x2's 32x32 pixels) and end "
                f"with {NUM_CLASSES} (its classes); got {','.join(map(str, args.widths))}"
            )
        return args.widths
    if train:
        depth = args.depth if args.depth is not None else preset.glorot_depth
        width = args.width if args.width is not None else preset.glorot_train_width
        return [SIDE * SIDE] + [width] * depth + [NUM_CLASSES]
    depth = args.depth if args.depth is not None else preset.deep_depth
    width = args.width if args.width is not None else preset.deep_width
    return [width] * (depth + 1)


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, str)):
        return str(value)
    return f"{value:.4g}"


def _table(rows: list[dict], columns) -> str:
    cells = [[_format(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _wander_note(widths, activation, negative_slope) -> str:
    """The table's footer: the theory columns are means over nets, and how far one net strays from them."""
    spread = theory.log_variance_wander(widths, activation, negative_slope)
    kappa = f"{theory.unit_kurtosis(activation, negative_slope):.3g}"
    fans = widths[:-1]
    size = f"{len(fans)}/{fans[0]}" if len(set(fans)) == 1 else "sum 1/n_l"
    return (
        f"theory_* are expectations over random nets; one net's log(pre_var) wanders by "
        f"about sqrt({kappa} * {size}) = {spread:.2f} by layer {len(fans)} (finite width)"
    )


def _show_progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _save(fig, path: str) -> None:
    fig.savefig(path)


def _run_propagate(args, parser, preset) -> None:
    from .measure.propagation import Propagation, propagate
    from .measure.spec import MLP

    widths = _widths(args, parser, preset, train=False)
    net = MLP(widths, args.activation, args.init, dict(args.init_arg), negative_slope=args.negative_slope)
    result = propagate(
        net,
        batch=args.batch or preset.batch,
        seed=args.seed,
        device=args.device,
        jacobian=args.jacobian,
        histograms=args.hist_bins,
        dtype=args.dtype,
        theory_method=args.theory,
        progress=_show_progress(args),
    )
    assert isinstance(result, Propagation)  # one seed and scalar init keywords: a single run
    data = result.to_dict()
    if args.json:
        print(json.dumps(data))
    else:
        print(
            f"{args.activation} net {widths[0]}->...->{widths[-1]} ({len(widths) - 1} layers), init {result.init}, "
            f"batch {result.batch}, seed {result.seed}, device {result.device}"
        )
        print(_table(data["layers"], TABLE_COLUMNS))
        print(_wander_note(widths, args.activation, args.negative_slope))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .course.plotting import plot_propagation

        _save(plot_propagation(result), args.plot)


def _run_train(args, parser, preset) -> None:
    from .course.presets import default_data
    from .measure.spec import MLP
    from .measure.training import TrainResult, train

    widths = _widths(args, parser, preset, train=True)
    net = MLP(widths, args.activation, args.init, dict(args.init_arg))
    result = train(
        net,
        default_data(preset.name),
        steps=args.steps if args.steps is not None else preset.glorot_steps,
        lr=args.lr,
        batch=args.batch,
        optimizer=args.optimizer,
        seed=args.seed,
        device=args.device,
        record_every=args.record_every,
        progress=_show_progress(args),
    )
    assert isinstance(result, TrainResult)  # one seed, one rate and scalar init keywords: a single run
    if args.csv == "-":
        result.to_csv(sys.stdout)
    elif args.csv:
        result.to_csv(args.csv)
    if args.json:
        print(json.dumps(result.to_dict()))
    elif args.csv != "-":
        rows = [
            {"step": s, "train_loss": a, "train_error": b, "test_error": c}
            for s, a, b, c in zip(result.steps, result.train_loss, result.train_error, result.test_error)
        ]
        print(
            f"{args.activation} MLP {'-'.join(map(str, widths))}, init {result.init}, {args.optimizer} "
            f"lr {args.lr}, batch {args.batch}, device {result.device}" + (" (diverged)" if result.diverged else "")
        )
        print(_table(rows, ("step", "train_loss", "train_error", "test_error")))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .course.plotting import plot_training

        _save(plot_training(result), args.plot)


def _run_audit(args, parser, preset) -> None:
    from .course.demos import build
    from .measure.audit import audit

    model, _ = build(args.spec, args.kwargs, seed=args.seed)
    report = audit(model)
    print(report.to_json() if args.json else report)


def _model_and_inputs(args):
    """The SPEC's model and its inputs: the factory's, or a batch of ``--input-shape`` (``--tokens``)."""
    from .course.demos import build, random_inputs

    model, inputs = build(args.spec, args.kwargs, seed=args.seed)
    if args.input_shape is not None:
        inputs = random_inputs(args.input_shape, args.tokens, args.seed)
    elif args.tokens is not None:
        raise ValueError("--tokens needs --input-shape (e.g. --input-shape 8,32 --tokens 1000)")
    if inputs is None:
        raise ValueError(
            f"spec {args.spec!r}: the factory returned no inputs; make it return (module, inputs), "
            "or give --input-shape (and --tokens for token ids)"
        )
    return model, inputs


def _input_shapes(inputs) -> str:
    import torch

    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    return ", ".join(str(tuple(t.shape)) for t in inputs if isinstance(t, torch.Tensor))


def _run_probe(args, parser, preset) -> None:
    from .measure.probe import probe

    model, inputs = _model_and_inputs(args)
    result = probe(model, inputs, hist_bins=args.hist_bins, seed=args.seed)
    if args.json:
        print(json.dumps({"spec": args.spec, "kwargs": args.kwargs, **result.to_dict()}))
    else:
        print(f"{args.spec} ({type(model).__name__}), inputs of shape {_input_shapes(inputs)}, seed {args.seed}")
        print(_table(result.rows, PROBE_COLUMNS))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .course.plotting import plot_probe

        _save(plot_probe(result, title=args.spec), args.plot)


def _run_doctor(args, parser, preset) -> int:
    from .measure.doctor import doctor

    model, inputs = _model_and_inputs(args)
    report = doctor(model, inputs, seed=args.seed)
    print(json.dumps({"spec": args.spec, "kwargs": args.kwargs, **report.to_dict()}) if args.json else report)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .course.plotting import plot_probe

        # the per-module output and gradient variances at initialization, log scale
        _save(plot_probe(report.signal, title="doctor"), args.plot)
    return 0 if report.healthy else 1


RUNS = {
    "propagate": _run_propagate,
    "train": _run_train,
    "probe": _run_probe,
    "audit": _run_audit,
    "doctor": _run_doctor,
}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = args.subparser
    from .course.presets import preset as get_preset

    try:
        preset = get_preset(getattr(args, "preset", None))
        code = RUNS[args.command](args, sub, preset)
    except (ValueError, TypeError) as err:
        # argparse's own convention for a bad value: usage, the message, exit status 2
        sub.error(str(err))
    return code or 0
