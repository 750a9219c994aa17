"""`flambeau train`'s recipe: batch augmentation, schedules, label smoothing, test-time flips, resume."""
import importlib.util
import json

import numpy as np
import pytest
import torch

import flambeau
from flambeau.cli import main
from flambeau.cli.recipe import augment_batch, make_scheduler
from tests.realdata import dataset_root


def _batch(n=16, c=3, h=8, w=8):
    return np.random.default_rng(0).standard_normal((n, c, h, w)).astype(np.float32)


def test_crop_flip_keeps_one_padded_window_per_image():
    x = _batch()
    fill = np.array([-1.5, -2.0, -2.5], np.float32)
    flambeau.manual_seed(3)
    y = augment_batch(x, "crop-flip", fill, pad=4)
    assert y.shape == x.shape and y.dtype == np.float32
    padded = np.empty((16, 3, 16, 16), np.float32)
    padded[...] = fill.reshape(1, 3, 1, 1)
    padded[:, :, 4:12, 4:12] = x
    offsets, flips = set(), 0
    for i in range(16):
        found = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (0, 1)
                 if np.array_equal(y[i], (padded[i, :, dy:dy + 8, dx:dx + 8])[..., ::-1 if f else 1])]
        assert found, f"image {i} is not a window of its padded image"
        offsets.add(found[0][:2])
        flips += found[0][2]
    assert len(offsets) > 4          # the windows are drawn per image, not one for the batch
    assert 0 < flips < 16


def test_flip_mirrors_about_half_and_is_seeded():
    x = _batch(n=200)
    flambeau.manual_seed(0)
    a = augment_batch(x, "flip", None)
    flambeau.manual_seed(0)
    b = augment_batch(x, "flip", None)
    assert np.array_equal(a, b)
    mirrored = np.array([np.array_equal(a[i], x[i, :, :, ::-1]) for i in range(200)])
    kept = np.array([np.array_equal(a[i], x[i]) for i in range(200)])
    assert np.all(mirrored | kept)
    assert 70 < mirrored.sum() < 130
    assert augment_batch(x, "none", None) is x


@pytest.mark.parametrize("name", ["cosine", "onecycle", "multistep", "triangle"])
def test_schedules_follow_torch_step_by_step(name):
    # two parameter groups with their own rates: each group's peak is its own rate
    total, lrs = 100, (0.1, 6.4)
    p, q = flambeau.nn.Parameter(flambeau.zeros(2)), flambeau.nn.Parameter(flambeau.zeros(2))
    opt = flambeau.optim.SGD([{"params": [p], "lr": lrs[0]}, {"params": [q], "lr": lrs[1]}], momentum=0.9)
    sched = make_scheduler(name, opt, total)
    tp, tq = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    topt = torch.optim.SGD([{"params": [tp], "lr": lrs[0]}, {"params": [tq], "lr": lrs[1]}], momentum=0.9)
    S = torch.optim.lr_scheduler
    tsched = {"cosine": lambda: S.CosineAnnealingLR(topt, T_max=total),
              "onecycle": lambda: S.OneCycleLR(topt, max_lr=list(lrs), total_steps=total),
              "multistep": lambda: S.MultiStepLR(topt, [50, 75], gamma=0.1),
              "triangle": lambda: S.OneCycleLR(topt, max_lr=list(lrs), total_steps=total, pct_start=0.23,
                                               anneal_strategy="linear", cycle_momentum=False, div_factor=5.0,
                                               final_div_factor=0.2 / 0.07)}[name]()
    seen = []
    for _ in range(total):
        for group, tgroup in zip(opt.param_groups, topt.param_groups):
            assert group["lr"] == pytest.approx(tgroup["lr"], rel=1e-12, abs=1e-15)
            assert group["momentum"] == pytest.approx(tgroup["momentum"], rel=1e-12)
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    if name == "triangle":      # lr/5 -> lr (at 23 % of the steps) -> 0.07 lr, in straight lines
        seen = np.array(seen) / lrs
        peak = 22                                   # OneCycleLR's warm-up ends at step 0.23 * total - 1
        assert np.allclose(seen[0], 0.2) and np.allclose(seen[peak], 1.0) and np.allclose(seen[-1], 0.07)
        assert np.allclose(np.diff(seen[:peak + 1], 2, axis=0), 0, atol=1e-12)
        assert np.allclose(np.diff(seen[peak:], 2, axis=0), 0, atol=1e-12)
        assert (np.diff(seen[peak:], axis=0) < 0).all()
        assert all(g["momentum"] == 0.9 for g in opt.param_groups)     # the triangle leaves momentum alone
    assert make_scheduler("constant", opt, total) is None


def _run(tmp_path, name, *extra):
    argv = ["train", "--out", str(tmp_path), "--name", name, "--no-progress", "--no-figures", *extra]
    assert main(argv) == 0
    return json.loads((tmp_path / name / "metrics.json").read_text())


def test_recipe_options_train_and_are_recorded(tmp_path, capsys):
    m = _run(tmp_path, "r", "--epochs", "4", "--augment", "flip", "--schedule", "onecycle", "--lr", "0.2",
             "--label-smoothing", "0.1", "--tta", "--weight-decay", "5e-4", "--nesterov")
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["augment"], cfg["schedule"], cfg["label_smoothing"], cfg["tta"], cfg["nesterov"]) == \
        ("flip", "onecycle", 0.1, True, True)
    assert m["final_test_acc"] > 0.85
    # one-cycle: the rate rises then falls to max_lr / (25 * 1e4) at the last step
    lrs = [h["lr"] for h in m["history"]]
    assert lrs[-1] == pytest.approx(0.2 / 25 / 1e4, rel=1e-6)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r")]) == 0          # evaluates with flips, as trained
    assert f"accuracy {m['final_test_acc']:.4f}" in capsys.readouterr().out


def test_resume_continues_bit_for_bit(tmp_path):
    straight = _run(tmp_path, "a", "--epochs", "4", "--augment", "flip")
    _run(tmp_path, "b", "--epochs", "2", "--augment", "flip")
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "4", "--no-progress", "--no-figures"]) == 0
    resumed = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    for ha, hb in zip(straight["history"], resumed["history"]):
        assert (ha["train_loss"], ha["test_acc"]) == (hb["train_loss"], hb["test_acc"])
    wa = flambeau.load(str(tmp_path / "a" / "model.safetensors"))
    wb = flambeau.load(str(tmp_path / "b" / "model.safetensors"))
    assert all(flambeau.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("every, tested", [(2, [2, 3]), (0, [3])])
def test_eval_every_skips_test_passes_only(tmp_path, capsys, every, tested):
    """--eval-every N evaluates every N epochs and after the last (0: only after the last); the
    training itself is unchanged, bit for bit, and the curves plot the evaluated epochs."""
    straight = _run(tmp_path, "a", "--epochs", "3", "--augment", "flip")
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path), "--name", "b", "--no-progress", "--epochs", "3",
                 "--augment", "flip", "--eval-every", str(every)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [h["epoch"] for h in m["history"] if h["test_acc"] is not None] == tested
    assert [("test acc" in line) for line in printed] == [e in tested for e in (1, 2, 3)]
    assert [h["train_loss"] for h in m["history"]] == [h["train_loss"] for h in straight["history"]]
    assert m["final_test_acc"] == straight["final_test_acc"]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["eval_every"] == every
    assert m["wall_time_s"] >= m["total_train_time_s"] > 0
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "b" / "curves.png").stat().st_size > 0


def test_ema_is_evaluated_saved_and_resumed(tmp_path, capsys):
    """--ema: the evaluated and saved model is the moving average (not the last weights); the
    average is checkpointed, so --resume continues it bit for bit."""
    straight = _run(tmp_path, "a", "--epochs", "3", "--augment", "flip", "--ema", "0.9")
    assert json.loads((tmp_path / "a" / "config.json").read_text())["ema"] == 0.9
    saved = flambeau.load(str(tmp_path / "a" / "model.safetensors"))
    ckpt = flambeau.load(str(tmp_path / "a" / "checkpoint.safetensors"))
    assert not all(flambeau.equal(saved[k], ckpt["model"][k]) for k in saved)
    assert all(flambeau.equal(saved[k], ckpt["ema"]["module." + k]) for k in saved)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "a")]) == 0
    assert f"accuracy {straight['final_test_acc']:.4f}" in capsys.readouterr().out
    assert main(["train", "--out", str(tmp_path), "--name", "c", "--no-progress", "--no-figures", "--epochs", "2",
                 "--augment", "flip", "--ema", "0.9", "--schedule", "constant"]) == 0
    assert main(["train", "--resume", str(tmp_path / "c"), "--epochs", "3", "--no-progress", "--no-figures"]) == 0
    d = _run(tmp_path, "d", "--epochs", "3", "--augment", "flip", "--ema", "0.9", "--schedule", "constant")
    resumed = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert [h["test_acc"] for h in resumed["history"]] == [h["test_acc"] for h in d["history"]]


class _Stop(Exception):
    pass


def test_resume_after_an_interruption_between_metrics_and_checkpoint(tmp_path, monkeypatch):
    """metrics.json is written before the checkpoint: if the run stops in between, it holds one
    epoch more than the checkpoint, and --resume redoes that epoch from the checkpoint."""
    args = ["--epochs", "3", "--schedule", "cosine", "--augment", "flip"]
    straight = _run(tmp_path, "a", *args)
    save = flambeau.save

    def save_then_stop(obj, path):
        if isinstance(obj, dict) and obj.get("epoch") == 3:
            raise _Stop()                   # killed after epoch 3's metrics, before its checkpoint
        save(obj, path)
    monkeypatch.setattr(flambeau, "save", save_then_stop)
    with pytest.raises(_Stop):
        _run(tmp_path, "b", *args)
    monkeypatch.setattr(flambeau, "save", save)
    assert len(json.loads((tmp_path / "b" / "metrics.json").read_text())["history"]) == 3
    assert int(flambeau.load(str(tmp_path / "b" / "checkpoint.safetensors"))["epoch"]) == 2
    assert main(["train", "--resume", str(tmp_path / "b"), "--no-progress", "--no-figures"]) == 0
    resumed = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]


@pytest.mark.parametrize("optimizer", ["adagrad", "adadelta", "adam"])
def test_onecycle_with_optimizers_with_and_without_momentum(tmp_path, optimizer):
    m = _run(tmp_path, optimizer, "--epochs", "2", "--optimizer", optimizer, "--schedule", "onecycle")
    assert m["final_test_acc"] > 0.5


def test_threads_option(tmp_path):
    before = flambeau.get_num_threads()
    try:
        n = 3 if before != 3 else 2
        _run(tmp_path, "t", "--epochs", "1", "--threads", str(n))
        assert flambeau.get_num_threads() == n
    finally:
        flambeau.set_num_threads(before)


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads must be positive"),
    (["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1)"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--eval-every", "-1"], "--eval-every must be 0 or positive"),
    (["--ema", "1.0"], "--ema must be in (0, 1), or 0 for no average, got 1.0"),
    (["--ema", "-0.5"], "--ema must be in (0, 1), or 0 for no average, got -0.5"),
    (["--crop-pad", "-1"], "--crop-pad must be 0 or positive, got -1"),
    (["--norm-bias-lr-scale", "0"], "--norm-bias-lr-scale must be positive, got 0.0"),
    (["--resume", "/nonexistent-run"], "no config.json + checkpoint.safetensors"),
])
def test_recipe_bad_input(argv, message, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_resume_keeps_a_laid_out_schedule(tmp_path, capsys):
    _run(tmp_path, "s", "--epochs", "1", "--schedule", "cosine")
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "s"), "--epochs", "3", "--no-progress"]) == 2
    assert "laid out over its 1 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "s"), "--no-progress"]) == 2
    assert "already holds 1 epoch(s)" in capsys.readouterr().err


def test_cifar10_recipe_smoke(tmp_path):
    """The default CIFAR-10 recipe (simple CNN, crop+flip, one-cycle SGD) on 1,024 real images."""
    root = dataset_root("cifar10")
    m = _run(tmp_path, "c", "--dataset", "cifar10", "--data-root", root, "--limit", "1024", "--batch-size", "32", "--epochs", "2")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert (cfg["model"], cfg["augment"], cfg["schedule"], cfg["batch_size"]) == \
        ("simple-cnn", "crop-flip", "onecycle", 32)
    assert m["final_test_acc"] > 0.2      # well above chance (0.10) after 64 steps on 1,024 images


def test_cifar10_resnet9_narrow_smoke_and_eval(tmp_path, capsys):
    """ResNet-9 at an eighth of its width (--width 8) learns on 1,024 real images; eval rebuilds the
    same width from the run folder."""
    root = dataset_root("cifar10")
    m = _run(tmp_path, "r9", "--dataset", "cifar10", "--data-root", root, "--model", "resnet9", "--width", "8",
             "--limit", "1024", "--batch-size", "64", "--epochs", "2")
    cfg = json.loads((tmp_path / "r9" / "config.json").read_text())
    assert (cfg["model"], cfg["width"]) == ("resnet9", 8)
    # seeds 0-5 end at 0.187-0.254 (chance: 0.10, standard error 0.003 on 10,000 images)
    assert m["final_test_acc"] > 0.15
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r9"), "--data-root", root]) == 0
    assert f"{m['final_test_acc']:.4f}" in capsys.readouterr().out


def test_width_of_a_model_without_one_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--model", "mlp", "--width", "8", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "has no width" in capsys.readouterr().err


def test_resume_and_eval_find_the_data_folder_again(tmp_path, monkeypatch, capsys):
    """A run on file datasets records its --data-root: --resume and eval need not repeat it."""
    import gzip
    rng = np.random.default_rng(0)
    data = tmp_path / "mnist-files"
    data.mkdir()
    for split, n in (("train", 64), ("t10k", 32)):
        for kind, magic, arr in (("images-idx3", 2051, rng.integers(0, 256, (n, 28, 28))),
                                 ("labels-idx1", 2049, rng.integers(0, 10, n))):
            header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            with gzip.open(data / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + arr.astype(np.uint8).tobytes())
    monkeypatch.delenv("FLAMBEAU_DATA", raising=False)
    monkeypatch.chdir(tmp_path)          # no ./data here
    assert main(["train", "--dataset", "mnist", "--data-root", str(data), "--model", "linear", "--epochs", "1",
                 "--schedule", "constant", "--out", str(tmp_path), "--name", "r", "--no-progress",
                 "--no-figures"]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["data_root"] == str(data)
    assert main(["train", "--resume", str(tmp_path / "r"), "--epochs", "2", "--no-progress", "--no-figures"]) == 0
    assert [h["epoch"] for h in json.loads((tmp_path / "r" / "metrics.json").read_text())["history"]] == [1, 2]
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r")]) == 0
    assert "accuracy" in capsys.readouterr().out
    data.rename(tmp_path / "data")          # the recorded folder is gone: ./data, as before
    assert main(["eval", str(tmp_path / "r")]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_norm_bias_groups_learn_faster_with_the_same_decay_per_step():
    from flambeau.cli.train import _param_groups
    from flambeau.vision.models import airbench
    net = airbench(width=8)
    assert [id(p) for p in _param_groups(net, 1.5, 1e-3)] == [id(p) for p in net.parameters() if p.requires_grad]
    rest, fast = _param_groups(net, 1.5, 1e-3, 64.0)
    shifts = [p for name, p in net.named_parameters() if ".norm" in name and name.endswith("bias")]
    assert [id(p) for p in fast["params"]] == [id(p) for p in shifts] and len(shifts) == 6
    assert all(p.requires_grad for p in rest["params"]) and len(rest["params"]) == 8   # whiten bias, 6 convs, fc
    assert (fast["lr"], rest["lr"]) == (96.0, 1.5)
    assert fast["lr"] * fast["weight_decay"] == pytest.approx(rest["lr"] * rest["weight_decay"], rel=1e-12)


def test_airbench_brings_its_recipe_and_options_still_win(tmp_path, capsys):
    """--model airbench on 2,048 real images (a quarter-width network): its own recipe is recorded,
    the whitening filters are set from the data, and an option given on the command line wins."""
    root = dataset_root("cifar10")
    m = _run(tmp_path, "ab", "--dataset", "cifar10", "--data-root", root, "--model", "airbench", "--width", "16",
             "--limit", "2048", "--batch-size", "256", "--epochs", "2", "--label-smoothing", "0.1")
    cfg = json.loads((tmp_path / "ab" / "config.json").read_text())
    assert {k: cfg[k] for k in ("batch_size", "lr", "momentum", "nesterov", "weight_decay", "norm_bias_lr_scale",
                                "schedule", "crop_pad", "label_smoothing", "tta", "eval_every", "ema")} == \
        {"batch_size": 256, "lr": 1.5, "momentum": 0.85, "nesterov": True, "weight_decay": 1.331e-3,
         "norm_bias_lr_scale": 64.0, "schedule": "triangle", "crop_pad": 2, "label_smoothing": 0.1, "tta": True,
         "eval_every": 0, "ema": 0.95}
    assert [h["test_acc"] is None for h in m["history"]] == [True, False]     # tested after the last epoch only
    assert m["final_test_acc"] > 0.25           # chance: 0.10
    saved = flambeau.load(str(tmp_path / "ab" / "model.safetensors"))["whiten.weight"].numpy()
    assert np.abs(saved).max() > 10             # whitening filters: divided by the root of small eigenvalues
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "ab"), "--data-root", root]) == 0
    assert f"{m['final_test_acc']:.4f}" in capsys.readouterr().out


def test_a_recipe_average_can_be_turned_off():
    from flambeau.cli import _parser
    from flambeau.cli.train import _settings
    settings = lambda *argv: _settings(_parser().parse_args(["train", "--dataset", "cifar10", *argv]))  # noqa: E731
    assert settings("--model", "airbench")["ema"] == 0.95
    assert settings("--model", "airbench", "--ema", "0")["ema"] is None
    assert settings("--model", "airbench", "--ema", "0.99")["ema"] == 0.99
    assert settings()["ema"] is None
