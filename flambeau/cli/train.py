"""``flambeau train`` / ``flambeau eval``: the training loop of the course, as a command.

The whole dataset is turned into one float32 tensor up front (normalised with the training
set's statistics), so a batch is one fancy index: the loop costs what the model costs.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from . import CLIError
from .recipe import DEFAULT_LR, MODEL_RECIPES, RECIPES, augment_batch, make_scheduler


# ---------------------------------------------------------------------------- data
def _data_root(args, cfg=None):
    """--data-root, else $FLAMBEAU_DATA, else the folder the run was trained from (``--resume``,
    ``flambeau eval``), else ./data."""
    recorded = (cfg or {}).get("data_root")
    if recorded and not os.path.isdir(recorded):   # a run moved to another machine: ./data as before
        recorded = None
    return args.data_root or os.environ.get("FLAMBEAU_DATA") or recorded or "data"


def load_arrays(name, root, train):
    """Images as uint8 (N, C, H, W), labels as int64 (N,), and the class names."""
    from ..vision import datasets
    try:
        if name == "digits":
            ds = datasets.Digits(train=train)
        elif name == "mnist":
            ds = datasets.MNIST(root, train=train, download=False)
        elif name == "fashion-mnist":
            ds = datasets.FashionMNIST(root, train=train, download=False)
        elif name == "cifar10":
            ds = datasets.CIFAR10(root, train=train, download=False)
        else:
            raise CLIError(f"unknown dataset {name!r}")
    except (FileNotFoundError, RuntimeError) as e:
        raise CLIError(f"{e} (use --data-root to point at the folder holding the {name} files)") from None
    x = np.asarray(ds.data)
    y = np.asarray(ds.targets, dtype=np.int64)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # N, H, W, C -> N, C, H, W
    classes = list(getattr(ds, "classes", [str(i) for i in range(int(y.max()) + 1)]))
    return np.ascontiguousarray(x), y, classes


def _normalise(x, mean, std):
    return ((x.astype(np.float32) / np.float32(255.0)) - mean) / std


# ---------------------------------------------------------------------------- building blocks
def _param_groups(model, lr, weight_decay, norm_bias_lr_scale=1.0):
    """The trained parameters (frozen ones left out), as one group, or two when batch-norm shifts
    learn ``norm_bias_lr_scale`` times faster (with weight decay divided by as much, so the decay
    per step, lr * wd, is the same for every weight)."""
    from ..nn.modules.batchnorm import _BatchNorm
    params = [p for p in model.parameters() if p.requires_grad]
    if norm_bias_lr_scale == 1.0:
        return params
    shifts = {id(m.bias) for m in model.modules() if isinstance(m, _BatchNorm) and m.bias is not None}
    fast = [p for p in params if id(p) in shifts]
    rest = [p for p in params if id(p) not in shifts]
    return [{"params": rest, "lr": lr, "weight_decay": weight_decay},
            {"params": fast, "lr": lr * norm_bias_lr_scale, "weight_decay": weight_decay / norm_bias_lr_scale}]


def _optimizer(name, params, lr, momentum, weight_decay, nesterov=False):
    from .. import optim
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov and momentum > 0)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise CLIError(f"unknown optimizer {name!r}")


def _progress(iterable, total, desc, disable):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable, None
    bar = tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)
    return bar, bar


def evaluate(model, x, y, batch_size=500, tta=False):
    """Accuracy, mean loss and predictions of ``model`` on tensors ``x``, ``y``.

    ``tta``: test-time augmentation, the logits of each image and of its mirror image averaged."""
    import flambeau
    from ..nn import functional as F
    model.eval()
    preds, loss_sum = [], 0.0
    with flambeau.no_grad():
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size]
            out = model(xb)
            if tta:
                out = (out + model(xb.flip(3))) / 2
            loss_sum += F.cross_entropy(out, y[i:i + batch_size], reduction="sum").item()
            preds.append(out.argmax(1).numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    target = y.numpy()
    return float((pred == target).mean()) if len(target) else 0.0, loss_sum / max(len(target), 1), pred


def confusion_matrix(target, pred, n):
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (target, pred), 1)
    return m


# ---------------------------------------------------------------------------- train
def _settings(args):
    """The run's settings: the command line's options over the dataset's recipe (recipe.py)."""
    model = args.model if args.model is not None else RECIPES[args.dataset]["model"]
    r = {**RECIPES[args.dataset], **MODEL_RECIPES.get(model, {})}
    pick = lambda opt, key, default=None: opt if opt is not None else r.get(key, default)  # noqa: E731
    cfg = {"dataset": args.dataset, "model": model, "epochs": pick(args.epochs, "epochs"),
           "batch_size": pick(args.batch_size, "batch_size"), "optimizer": args.optimizer,
           "momentum": pick(args.momentum, "momentum", 0.9), "weight_decay": pick(args.weight_decay, "weight_decay"),
           "nesterov": pick(args.nesterov, "nesterov", False), "augment": pick(args.augment, "augment"),
           "crop_pad": pick(getattr(args, "crop_pad", None), "crop_pad", 4),
           "schedule": pick(args.schedule, "schedule"),
           "norm_bias_lr_scale": pick(getattr(args, "norm_bias_lr_scale", None), "norm_bias_lr_scale", 1.0),
           "label_smoothing": pick(args.label_smoothing, "label_smoothing", 0.0),
           "tta": pick(args.tta, "tta", False), "eval_every": pick(args.eval_every, "eval_every", 1),
           "ema": pick(args.ema, "ema") or None, "seed": args.seed, "limit": args.limit, "width": args.width}
    # the recipe's learning rate belongs to its optimizer
    cfg["lr"] = args.lr if args.lr is not None else (
        r["lr"] if "lr" in r and args.optimizer == "sgd" else DEFAULT_LR[args.optimizer])
    if cfg["crop_pad"] < 0:
        raise CLIError(f"--crop-pad must be 0 or positive, got {cfg['crop_pad']}")
    if cfg["norm_bias_lr_scale"] <= 0:
        raise CLIError(f"--norm-bias-lr-scale must be positive, got {cfg['norm_bias_lr_scale']}")
    for key in ("batch_size", "epochs"):
        if cfg[key] <= 0:
            raise CLIError(f"--{key.replace('_', '-')} must be positive, got {cfg[key]}")
    if cfg["lr"] <= 0:
        raise CLIError(f"--lr must be positive, got {cfg['lr']}")
    if cfg["eval_every"] < 0:
        raise CLIError(f"--eval-every must be 0 or positive, got {cfg['eval_every']}")
    if args.ema is not None and not 0.0 <= args.ema < 1.0:
        raise CLIError(f"--ema must be in (0, 1), or 0 for no average, got {args.ema}")
    if not 0.0 <= cfg["label_smoothing"] < 1.0:
        raise CLIError(f"--label-smoothing must be in [0, 1), got {cfg['label_smoothing']}")
    return cfg


def _resume_settings(args):
    """The settings saved in the run folder ``args.resume``; only ``--epochs`` may change."""
    path = os.path.join(args.resume, "config.json")
    if not os.path.exists(os.path.join(args.resume, "checkpoint.safetensors")) or not os.path.exists(path):
        raise CLIError(f"{args.resume!r} has no config.json + checkpoint.safetensors to resume from")
    with open(path) as f:
        cfg = json.load(f)
    if args.epochs is not None and args.epochs != cfg["epochs"]:
        if cfg.get("schedule", "constant") != "constant":
            raise CLIError(f"the run's {cfg['schedule']} schedule is laid out over its {cfg['epochs']} epochs: "
                           "--resume can change --epochs only for a constant learning rate")
        cfg["epochs"] = args.epochs
    return cfg


def train(args):
    import flambeau
    from ..nn import functional as F
    from ..vision.models import build

    started = time.perf_counter()       # the run's wall clock: data loading, training, evaluation
    resume = getattr(args, "resume", None)
    cfg = _resume_settings(args) if resume else _settings(args)
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads <= 0:
            raise CLIError(f"--threads must be positive, got {threads}")
        flambeau.set_num_threads(threads)
    flambeau.manual_seed(cfg["seed"])
    root = _data_root(args, cfg if resume else None)
    xtr, ytr, classes = load_arrays(cfg["dataset"], root, train=True)
    xte, yte, _ = load_arrays(cfg["dataset"], root, train=False)
    if cfg["dataset"] != "digits":
        cfg["data_root"] = os.path.abspath(root)    # so that --resume and eval find the files again
    if cfg["limit"]:
        xtr, ytr = xtr[:cfg["limit"]], ytr[:cfg["limit"]]
    # per-channel statistics of the training set (MNIST gives the usual 0.1307 / 0.3081)
    mean = (xtr.astype(np.float32) / 255).mean(axis=(0, 2, 3), keepdims=True)[0]
    std = (xtr.astype(np.float32) / 255).std(axis=(0, 2, 3), keepdims=True)[0]
    std[std == 0] = 1
    x_train = _normalise(xtr, mean, std)
    x_test = flambeau.from_numpy(_normalise(xte, mean, std))
    y_train, y_test = flambeau.from_numpy(ytr), flambeau.from_numpy(yte)
    black = (-mean / std).reshape(-1).astype(np.float32)       # a zero pixel, normalised: the crop's padding

    try:
        model = build(cfg["model"], x_train.shape[1:], len(classes), cfg.get("width"))
    except ValueError as e:
        raise CLIError(str(e)) from None
    if hasattr(model, "init_whitening"):    # filters from the training set's patches (a resumed run reloads them)
        model.init_whitening(x_train[:5000])
    epochs, batch_size = cfg["epochs"], cfg["batch_size"]
    n = len(ytr)
    steps = (n + batch_size - 1) // batch_size
    groups = _param_groups(model, cfg["lr"], cfg["weight_decay"], cfg.get("norm_bias_lr_scale", 1.0))
    optimizer = _optimizer(cfg["optimizer"], groups, cfg["lr"], cfg["momentum"], cfg["weight_decay"],
                           cfg["nesterov"])
    scheduler = make_scheduler(cfg["schedule"], optimizer, epochs * steps)
    n_params = sum(p.numel() for p in model.parameters())
    # --ema: the evaluated (and saved) model is a running average of the trained one
    averaged = None
    if cfg.get("ema"):
        from ..optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg["ema"]), use_buffers=True)
    evaluated = averaged.module if averaged is not None else model

    history, first, earlier_wall = [], 1, 0.0
    if resume:
        run_dir = resume
        ckpt = flambeau.load(os.path.join(run_dir, "checkpoint.safetensors"))
        model.load_state_dict(ckpt["model"])
        if averaged is not None:
            averaged.load_state_dict(ckpt["ema"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        flambeau.set_rng_state(ckpt["rng_state"])
        done = int(ckpt["epoch"])       # the checkpoint is the truth; metrics.json may hold one epoch more
        try:
            with open(os.path.join(run_dir, "metrics.json")) as f:
                saved = json.load(f)
            history = saved["history"][:done]
            earlier_wall = float(saved.get("wall_time_s", 0.0))   # the earlier invocations' time
        except (OSError, ValueError, KeyError, TypeError):
            history = []
        if len(history) < done:
            raise CLIError(f"{run_dir!r}: metrics.json has {len(history)} epoch(s) but the checkpoint {done}; "
                           "cannot resume this run")
        first = done + 1
        if first > epochs:
            raise CLIError(f"{run_dir!r} already holds {done} epoch(s); pass a larger --epochs to go on")
    else:
        name = args.name or f"{cfg['dataset']}-{cfg['model']}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = os.path.join(args.out, name)
        os.makedirs(run_dir, exist_ok=True)
        cfg.update({"in_shape": list(x_train.shape[1:]), "num_classes": len(classes), "classes": classes,
                    "mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist(), "parameters": n_params})
    _write_json(os.path.join(run_dir, "config.json"), cfg)
    extras = "".join(f", {k} {cfg[k]}" for k in ("augment", "schedule") if cfg[k] not in ("none", "constant"))
    print(f"flambeau train: {cfg['model']} ({n_params:,} parameters) on {cfg['dataset']} "
          f"({len(ytr):,} train / {len(yte):,} test), {epochs} epoch(s), {cfg['optimizer']} lr={cfg['lr']}"
          f"{extras}" + (f", resuming at epoch {first}" if resume else ""))

    for epoch in range(first, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = flambeau.randperm(n).numpy()
        batches, bar = _progress(range(steps), steps, f"epoch {epoch}/{epochs}", args.no_progress)
        seen = correct = 0
        loss_sum = 0.0
        for b in batches:
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb = flambeau.from_numpy(augment_batch(x_train[idx], cfg["augment"], black, cfg.get("crop_pad", 4)))
            yb = y_train[flambeau.from_numpy(idx)]
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=cfg["label_smoothing"])
            optimizer.zero_grad()
            loss.backward()
            lr_used = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(model)
            if scheduler is not None:
                scheduler.step()
            k = len(idx)
            seen += k
            loss_sum += loss.item() * k
            correct += int((out.detach().argmax(1) == yb).sum().item())
            if bar is not None and (b % 10 == 0 or b == steps - 1):
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        if bar is not None:
            bar.close()
        epoch_time = time.perf_counter() - t0
        every = cfg.get("eval_every", 1)
        test_acc = test_loss = None         # epochs between evaluations (--eval-every) have no test metrics
        if epoch == epochs or (every and epoch % every == 0):
            test_acc, test_loss, pred = evaluate(evaluated, x_test, y_test, tta=cfg["tta"])
        history.append({"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "test_loss": test_loss, "test_acc": test_acc, "epoch_time_s": epoch_time,
                        "lr": lr_used})          # the rate of the epoch's last step
        tested = "" if test_acc is None else f"  test loss {test_loss:.4f}  test acc {test_acc:.4f}"
        print(f"epoch {epoch:3d}  train loss {loss_sum / seen:.4f}  train acc {correct / seen:.4f}{tested}  "
              f"({epoch_time:.1f} s)", flush=True)
        # the metrics so far, then everything needed to go on from here (`--resume`): both files are
        # replaced atomically, in this order, so metrics.json always covers the checkpoint's epochs
        last_acc = next((h["test_acc"] for h in reversed(history) if h["test_acc"] is not None), None)
        _write_json(os.path.join(run_dir, "metrics.json"),
                    {"final_test_acc": last_acc, "history": history,
                     "wall_time_s": earlier_wall + time.perf_counter() - started})
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                 "rng_state": flambeau.get_rng_state()}
        if scheduler is not None:
            state["scheduler"] = scheduler.state_dict()
        if averaged is not None:
            state["ema"] = averaged.state_dict()
        flambeau.save(state, os.path.join(run_dir, "checkpoint.safetensors"))

    cm = confusion_matrix(yte, pred, len(classes))
    flambeau.save(evaluated.state_dict(), os.path.join(run_dir, "model.safetensors"))
    metrics = {"final_test_acc": history[-1]["test_acc"], "history": history,
               "total_train_time_s": sum(h["epoch_time_s"] for h in history),
               "wall_time_s": earlier_wall + time.perf_counter() - started, "confusion_matrix": cm.tolist()}
    _write_json(os.path.join(run_dir, "metrics.json"), metrics)
    figures = [] if args.no_figures else _figures(run_dir, history, cm, classes)
    wall = metrics["wall_time_s"]
    took = f"{wall:.1f} s" if wall < 60 else f"{wall / 60:.1f} min"
    print(f"test accuracy {history[-1]['test_acc']:.4f} after {took}; "
          f"run folder {run_dir} "
          f"(model.safetensors, metrics.json{''.join(', ' + f for f in figures)})")
    return metrics


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _figures(run_dir, history, cm, classes):
    """Loss/accuracy curves and the confusion matrix, when matplotlib is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    ep = [h["epoch"] for h in history]
    tested = [h for h in history if h["test_acc"] is not None]     # --eval-every skips epochs
    ep_test = [h["epoch"] for h in tested]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    ax[0].plot(ep_test, [h["test_loss"] for h in tested], "o-", label="test")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("loss")
    ax[0].legend()
    ax[1].plot(ep, [h["train_acc"] for h in history], "o-", label="train")
    ax[1].plot(ep_test, [h["test_acc"] for h in tested], "o-", label="test")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("accuracy")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(run_dir, "curves.png"), dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)))
    ax.set_yticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.colorbar(im)
    ax.set_title("confusion matrix (test set)")
    fig.tight_layout()
    fig.savefig(os.path.join(run_dir, "confusion.png"), dpi=100)
    plt.close(fig)
    return ["curves.png", "confusion.png"]


# ---------------------------------------------------------------------------- eval
def evaluate_run(args):
    import flambeau
    from ..vision.models import build

    cfg_path = os.path.join(args.run, "config.json")
    ckpt = os.path.join(args.run, "model.safetensors")
    for p in (cfg_path, ckpt):
        if not os.path.exists(p):
            raise CLIError(f"{p} not found: is {args.run!r} a run folder written by `flambeau train`?")
    with open(cfg_path) as f:
        cfg = json.load(f)
    model = build(cfg["model"], cfg["in_shape"], cfg["num_classes"], cfg.get("width"))
    try:
        model.load_state_dict(flambeau.load(ckpt))
    except RuntimeError as e:
        raise CLIError(f"cannot load {ckpt}: {e}") from None
    xte, yte, _ = load_arrays(cfg["dataset"], _data_root(args, cfg), train=False)
    mean = np.asarray(cfg["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg["std"], np.float32).reshape(-1, 1, 1)
    tta = args.tta if args.tta is not None else cfg.get("tta", False)
    acc, loss, _ = evaluate(model, flambeau.from_numpy(_normalise(xte, mean, std)), flambeau.from_numpy(yte),
                            args.batch_size, tta=tta)
    print(f"{cfg['model']} on {cfg['dataset']} test set: accuracy {acc:.4f}, loss {loss:.4f} ({len(yte)} images)")
    return acc
