"""The ``flambeau`` command: ``train``, ``eval``, ``demo``, ``run`` (and ``python -m flambeau``).

Bad arguments and missing data end with one clear line on stderr and exit status 2, never a
traceback.
"""
from __future__ import annotations

import argparse
import sys


class CLIError(Exception):
    """An error to report to the user as one line (no traceback)."""


def _parser():
    p = argparse.ArgumentParser(prog="flambeau", description="flambeau: deep learning on NumPy with "
                                "PyTorch's API. Train and evaluate models from the command line.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on a dataset and write a run folder",
                       description="Train a model on a dataset and write a run folder. Options not given come "
                       "from the dataset's recipe, and for --model airbench from its own: batches of 1024, 14 "
                       "epochs, SGD with Nesterov momentum 0.85, lr 1.5 (batch-norm shifts 64 times that), weight "
                       "decay 1.33e-3, triangle schedule, 2-pixel crops and flips, label smoothing 0.2, mirrored "
                       "test images, a moving average of the weights (--ema 0.95) evaluated.")
    t.add_argument("--dataset", default="digits", choices=["digits", "mnist", "fashion-mnist", "cifar10"],
                   help="dataset (default: digits, embedded in the package, works offline)")
    t.add_argument("--data-root", default=None,
                   help="folder holding the dataset files (needed for mnist, fashion-mnist, cifar10; "
                        "default: $FLAMBEAU_DATA or ./data)")
    t.add_argument("--model", default=None,
                   help="linear | mlp | cnn | simple-cnn | resnet20 | resnet32 | resnet56 | resnet9 | airbench "
                        "(default: mlp for digits, cnn for MNIST and Fashion-MNIST, simple-cnn for cifar10; "
                        "airbench brings its own recipe, see `flambeau train --help`)")
    t.add_argument("--width", type=int, default=None,
                   help="the model's base number of channels (simple-cnn 32, resnet20/32/56 16, resnet9 64, "
                        "airbench 64)")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    t.add_argument("--batch-size", type=int, default=None, help="default: 128 for cifar10, 64 otherwise")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate, the peak rate of a one-cycle schedule (default: 0.1 for SGD on cifar10, "
                        "else by optimizer: SGD 0.05, Adam 1e-3, Adadelta 1.0 ...)")
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw", "adadelta", "adagrad", "rmsprop"])
    t.add_argument("--momentum", type=float, default=None, help="SGD/RMSprop momentum (default 0.9; airbench 0.85)")
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum for SGD (default: on for cifar10)")
    t.add_argument("--weight-decay", type=float, default=None, help="default: 5e-4 for cifar10, 0 otherwise")
    t.add_argument("--augment", default=None, choices=["none", "flip", "crop-flip"],
                   help="training augmentation: crop-flip = random crop with 4-pixel padding + horizontal flip "
                        "(default: crop-flip for cifar10, none otherwise)")
    t.add_argument("--crop-pad", type=int, default=None, metavar="PIXELS",
                   help="crop-flip's padding: images move by up to this many pixels (default 4; airbench 2)")
    t.add_argument("--schedule", default=None, choices=["constant", "cosine", "onecycle", "multistep", "triangle"],
                   help="learning-rate schedule, stepped every batch (default: onecycle for cifar10, triangle for "
                        "airbench, constant otherwise); triangle: linear from lr/5 up to lr over the first 23 %% "
                        "of steps, then linear down to 0.07 lr")
    t.add_argument("--norm-bias-lr-scale", type=float, default=None, metavar="K",
                   help="batch-norm shifts learn K times faster than the other weights, with weight decay / K "
                        "(default 1; airbench 64)")
    t.add_argument("--label-smoothing", type=float, default=None,
                   help="cross-entropy label smoothing (default 0; airbench 0.2)")
    t.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="test-time augmentation: average each test image's logits with its mirror image's "
                        "(default: off; on for airbench)")
    t.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="evaluate and save an exponential moving average of the weights and batch-norm "
                        "statistics, updated after every step with this decay (e.g. 0.999; airbench 0.95; 0: none)")
    t.add_argument("--eval-every", type=int, default=None, metavar="N",
                   help="evaluate on the test set every N epochs and after the last one (default 1; airbench 0: "
                        "only after the last, which saves the evaluation passes in a timed run)")
    t.add_argument("--resume", default=None, metavar="RUN",
                   help="go on with the run folder RUN from its last finished epoch (its settings are kept; "
                        "--epochs may change only for a constant rate)")
    t.add_argument("--threads", type=int, default=None,
                   help="threads to compute with (default: all cores, or $OPENBLAS_NUM_THREADS)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    t.add_argument("--out", default="runs", help="parent folder of the run folder (default: runs)")
    t.add_argument("--name", default=None, help="run folder name (default: DATASET-MODEL-TIMESTAMP)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    d = sub.add_parser("demo", help="run one of the course's experiments and write its figures")
    d.add_argument("name", nargs="?", help="the demo (omit to list them)")
    d.add_argument("--out", default="demos", help="parent folder of the demo's output (default: demos)")
    d.add_argument("--fast", action="store_true", help="a reduced, quick version")
    d.add_argument("--data-root", default=None, help="folder holding MNIST/CIFAR-10 files (default: $FLAMBEAU_DATA "
                   "or ./data)")
    d.add_argument("--dataset", default=None, help="mnist-linear/mnist-cnn: mnist or fashion-mnist")
    d.add_argument("--epochs", type=int, default=None, help="override the demo's number of epochs")
    d.add_argument("--seed", type=int, default=None)
    d.add_argument("--sample", action="store_true", help="gan: draw new digits from the saved checkpoint")

    r = sub.add_parser("run", help="run a PyTorch script unchanged, with torch/torchvision resolved to flambeau")
    r.add_argument("script", help="the Python script")
    r.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")

    e = sub.add_parser("eval", help="reload a run's checkpoint and report its test accuracy")
    e.add_argument("run", help="a run folder written by `flambeau train`")
    e.add_argument("--data-root", default=None)
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average each test image's logits with its mirror image's (default: as the run was trained)")
    return p


def _demo(args) -> int:
    import inspect
    import json

    from ..demos import DEMOS, entry_point, run
    if not args.name:
        for name, (_, doc) in DEMOS.items():
            print(f"{name:20s} {doc}")
        return 0
    if args.name not in DEMOS:
        raise CLIError(f"unknown demo {args.name!r}; choose one of {', '.join(DEMOS)}")
    options = {k: v for k, v in (("data_root", args.data_root), ("dataset", args.dataset),
                                 ("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if args.sample:
        options["sample"] = True
    accepted = inspect.signature(entry_point(args.name)).parameters
    for k in options:
        if k not in accepted:
            raise CLIError(f"demo {args.name!r} has no option --{k.replace('_', '-')}")
    try:
        metrics = run(args.name, out=args.out, fast=args.fast, **options)
    except FileNotFoundError as e:
        raise CLIError(str(e)) from None
    print(json.dumps(metrics, indent=2))
    print(f"figures and metrics.json written to {args.out}/{args.name}")
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "train":
            from .train import train
            train(args)
        elif args.command == "demo":
            return _demo(args)
        elif args.command == "run":
            from ..compat import run
            return run(args.script, args.args)
        elif args.command == "eval":
            from .train import evaluate_run
            evaluate_run(args)
    except CLIError as e:
        print(f"flambeau {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"flambeau {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
