"""Classic public PyTorch programs, unchanged, run on flambeau through ``python -m flambeau.compat``.

The programs live in ``tests/compat/scripts/``. They read their data where they always do
(``../data``, ``./data``); each test builds that folder from the shared datasets
($FLAMBEAU_DATASETS): the full MNIST files as symlinks in torchvision's layout, or smaller files in
the same formats (IDX, CIFAR-10 binary records) so that a whole run stays short. The scripts do
not know about any of this. Where the script does not need torchvision, the same file also runs on
real PyTorch and the printed numbers are compared.
"""
import gzip
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from realdata import dataset_root

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
REPO = os.path.dirname(os.path.dirname(HERE))
FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _env():
    env = dict(os.environ)
    env.update(PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""), MPLBACKEND="Agg",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


# run a script after seeding the library's generator (the script's own random draws then repeat)
_SEEDED = {False: "import sys, flambeau, flambeau.compat; flambeau.manual_seed({seed}); "
                  "sys.exit(flambeau.compat.main(sys.argv[1:]))",
           True: "import runpy, sys, torch; torch.manual_seed({seed}); sys.argv = sys.argv[1:]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')"}


def _start(script, *args, cwd, torch=False, seed=None):
    path = os.path.join(SCRIPTS, script)
    if seed is None:
        cmd = [sys.executable] + ([] if torch else ["-m", "flambeau.compat"]) + [path, *args]
    else:
        cmd = [sys.executable, "-c", _SEEDED[torch].format(seed=int(seed)), path, *args]
    return subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    return out


def run_flambeau(script, *args, cwd):
    return _finish(_start(script, *args, cwd=cwd))


def run_both(script, *args, cwd, seed=None):
    """The script on flambeau and on PyTorch, side by side (two processes): (flambeau, torch) stdout."""
    procs = [_start(script, *args, cwd=cwd, seed=seed), _start(script, *args, cwd=cwd, torch=True, seed=seed)]
    return tuple(_finish(p) for p in procs)


# ---------------------------------------------------------------------------------------- data folders
def _write_idx_gz(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _read_idx_gz(path, count):
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        ndim = head[3]
        dims = [int.from_bytes(f.read(4), "big") for _ in range(ndim)]
        n = min(count, dims[0])
        per = int(np.prod(dims[1:], dtype=np.int64))
        return np.frombuffer(f.read(n * per), np.uint8).reshape([n] + dims[1:])


def mnist_folder(root, n_train=None, n_test=None):
    """``root/data/MNIST/raw/`` (torchvision's layout) holding the shared MNIST files (symlinks), or
    their first ``n_train``/``n_test`` records rewritten in the same gzip-compressed IDX format.
    Returns ``root/work``, a working directory whose ``../data`` is that folder."""
    src = dataset_root("mnist")
    raw = os.path.join(root, "data", "MNIST", "raw")
    os.makedirs(raw)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind, magic in (("images-idx3", 2051), ("labels-idx1", 2049)):
            name = f"{split}-{kind}-ubyte.gz"
            if n is None:
                os.symlink(os.path.join(src, name), os.path.join(raw, name))
            else:
                _write_idx_gz(os.path.join(raw, name), _read_idx_gz(os.path.join(src, name), n), magic)
    work = os.path.join(root, "work")
    os.makedirs(work)
    return work


@pytest.fixture(scope="module")
def cifar_small(tmp_path_factory):
    """``data/cifar-10-batches-bin/``: the first 1,600 records of each training file and the first 400
    of the test file, in the official binary format (the tutorial then trains on 8,000 images)."""
    src = os.path.join(dataset_root("cifar10"), "cifar-10-binary.tar.gz")
    root = tmp_path_factory.mktemp("cifar")
    out = root / "data" / "cifar-10-batches-bin"
    out.mkdir(parents=True)
    keep = {f"data_batch_{i}.bin": 1600 for i in range(1, 6)}
    keep["test_batch.bin"] = 400
    with tarfile.open(src, "r:gz") as tar:
        for member in tar:
            name = os.path.basename(member.name)
            if member.isfile() and name in keep:
                (out / name).write_bytes(tar.extractfile(member).read(3073 * keep[name]))
            elif member.isfile() and name == "batches.meta.txt":
                (out / name).write_bytes(tar.extractfile(member).read())
    assert sorted(os.listdir(out)) == sorted(list(keep) + ["batches.meta.txt"])
    return root


def _floats(pattern, text):
    return [float(m) for m in re.findall(pattern, text)]


# ---------------------------------------------------------------------------------------- 1. MNIST example
TEST_LINE = re.compile(r"Test set: Average loss: (" + FLOAT + r"), Accuracy: (\d+)/(\d+) \((\d+)%\)")
TRAIN_LINE = re.compile(r"Train Epoch: (\d+) \[(\d+)/(\d+) \((\d+)%\)\]\tLoss: (" + FLOAT + ")")


def test_mnist_example_dry_run_full_data(tmp_path):
    """examples/mnist/main.py --dry-run on the full MNIST files: one training batch, the whole test set."""
    work = mnist_folder(tmp_path)
    out = run_flambeau("mnist_main.py", "--dry-run", "--epochs", "1", "--save-model", cwd=work)
    train = TRAIN_LINE.findall(out)
    assert train == [(train[0][0], "0", "60000", "0", train[0][4])] and train[0][0] == "1"
    assert 2.0 < float(train[0][4]) < 2.6                      # log(10) = 2.30 at initialisation
    (loss, correct, total, pct), = TEST_LINE.findall(out)
    assert total == "10000" and math.isfinite(float(loss)) and 0 <= int(correct) <= 10000
    assert int(pct) == round(100 * int(correct) / 10000)
    import flambeau
    state = flambeau.load(os.path.join(work, "mnist_cnn.pt"))
    assert [k for k in state] == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                                  "fc1.bias", "fc2.weight", "fc2.bias"]
    assert tuple(state["fc1.weight"].shape) == (128, 9216)


def test_mnist_example_learns(tmp_path):
    """A real (short) run: 2 epochs on the first 1,280 training images, tested on 500."""
    work = mnist_folder(tmp_path, n_train=1280, n_test=500)
    out = run_flambeau("mnist_main.py", "--epochs", "2", "--log-interval", "5", cwd=work)
    train = TRAIN_LINE.findall(out)
    assert [(e, seen) for e, seen, *_ in train] == [(str(e), str(s)) for e in (1, 2) for s in (0, 320, 640, 960)]
    assert all(t[2] == "1280" for t in train)
    tests = TEST_LINE.findall(out)
    assert len(tests) == 2 and all(t[2] == "500" for t in tests)
    losses = [float(t[0]) for t in tests]
    accs = [int(t[1]) / 500 for t in tests]
    assert losses[1] < losses[0] < 2.0
    assert accs[1] > 0.8, out


# ---------------------------------------------------------------------------------------- 2. CIFAR-10 tutorial
def test_cifar10_tutorial(cifar_small, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(cifar_small / "data", work / "data")
    out = run_flambeau("cifar10_tutorial.py", cwd=work)
    names = r"(?:plane|car  |bird |cat  |deer |dog  |frog |horse|ship |truck)"
    lines = out.splitlines()
    assert re.fullmatch(" ".join([names] * 4), lines[0])             # the labels of a random batch
    running = re.findall(r"\[(\d), (\s*\d+)\] loss: (" + FLOAT + ")", out)
    assert [(e, s.strip()) for e, s, _ in running] == [("1", "2000"), ("2", "2000")]
    losses = [float(v) for *_, v in running]
    assert all(math.isfinite(v) for v in losses) and losses[1] < losses[0] < 2.31
    assert "Finished Training" in lines
    assert re.search(r"GroundTruth:  " + " ".join([names] * 4), out)
    assert re.search(r"Predicted:  " + " ".join([names] * 4), out)
    acc = int(re.search(r"Accuracy of the network on the 10000 test images: (\d+) %", out).group(1))
    assert 15 <= acc <= 100                                           # chance is 10 %
    per_class = re.findall(r"Accuracy for class: (\w+)\s* is (" + FLOAT + ") %", out)
    assert [c for c, _ in per_class] == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                         "truck"]
    assert all(0 <= float(a) <= 100 for _, a in per_class)
    assert lines[-1] == "cpu"
    assert (work / "cifar_net.pth").exists()


# ---------------------------------------------------------------------------------------- 3. autograd tutorials
def _strip_addresses(text):
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


# flambeau computes a reduced loss as two nodes (the elementwise loss, then the mean), so a loss's
# grad_fn prints as MeanBackward0 where PyTorch's fused kernel prints the loss's own node name.
KNOWN_DIFFERENCES = ("Gradient function for loss = ",)


def test_autograd_tutorial_matches_pytorch(tmp_path):
    """Every printed line agrees with PyTorch (object addresses aside)."""
    ours, theirs = run_both("autograd_tutorial.py", cwd=tmp_path)
    ours, theirs = (_strip_addresses(o).splitlines() for o in (ours, theirs))
    assert len(ours) == len(theirs) > 40
    for a, b in zip(ours, theirs):
        if a.startswith(KNOWN_DIFFERENCES) and b.startswith(KNOWN_DIFFERENCES):
            continue
        assert a == b


RESULT = re.compile(r"Result: y = (" + FLOAT + r") \+ (" + FLOAT + r") x \+ (" + FLOAT + r") x\^2 \+ (" + FLOAT
                    + r") x\^3")
LEAST_SQUARES = (0.0, 0.857, 0.0, -0.0933)   # the best cubic for sin on [-pi, pi] (loss 8.8)


@pytest.mark.parametrize("script", ["polynomial_tensor.py", "polynomial_autograd.py", "polynomial_nn.py",
                                    "polynomial_optim.py", "polynomial_module.py"])
def test_polynomial_fit_converges_like_pytorch(tmp_path, script):
    """Random starting points (torch.randn, nn.Linear's init) differ between the two libraries, so
    the comparison is on convergence: the same 20 progress lines, both final losses near the
    least-squares optimum, both coefficient sets near the least-squares cubic. (Bounds: over 2,000
    simulated N(0, 1) starts, 2,000 steps of this gradient descent end with a loss below 22 and
    coefficients within (0.10, 0.07, 0.018, 0.0094) of the optimum. RMSprop at lr 1e-3 is slower
    from some of nn.Linear's uniform starts: PyTorch's own unseeded run of polynomial_optim.py ended
    at 0.65 x from one start in six, so both runs are seeded.)"""
    outs = run_both(script, cwd=tmp_path, seed=0)
    for out in outs:
        steps = re.findall(r"^(\d+) (" + FLOAT + ")$", out, re.MULTILINE)
        assert [int(t) for t, _ in steps] == list(range(99, 2000, 100))
        losses = [float(v) for _, v in steps]
        assert 8.7 < losses[-1] < 30 and losses[-1] <= losses[0]
        coef = [float(v) for v in RESULT.search(out).groups()]
        assert np.allclose(coef, LEAST_SQUARES, atol=[0.15, 0.1, 0.03, 0.015]), coef


def test_custom_autograd_function_matches_pytorch_closely(tmp_path):
    """LegendrePolynomial3: a deterministic start (torch.full), so every printed number must agree."""
    ours, theirs = run_both("polynomial_custom_function.py", cwd=tmp_path)
    pat = r"^(\d+) (" + FLOAT + ")$"
    a, b = re.findall(pat, ours, re.MULTILINE), re.findall(pat, theirs, re.MULTILINE)
    assert [t for t, _ in a] == [t for t, _ in b] == [str(t) for t in range(99, 2000, 100)]
    np.testing.assert_allclose([float(v) for _, v in a], [float(v) for _, v in b], rtol=1e-4)
    res = r"Result: y = (" + FLOAT + r") \+ (" + FLOAT + r") \* P3\((" + FLOAT + r") \+ (" + FLOAT + r") x\)"
    ca = [float(v) for v in re.search(res, ours).groups()]
    cb = [float(v) for v in re.search(res, theirs).groups()]
    np.testing.assert_allclose(ca, cb, rtol=1e-5, atol=1e-7)


def test_dynamic_net_weight_sharing(tmp_path):
    """DynamicNet: random graph depth each step (random.randint) and one parameter used several times.
    30,000 steps take long, so this one runs on flambeau only; PyTorch's run ends near a loss of 9
    (the least-squares optimum of the cubic part is 8.8), and so must flambeau's."""
    for out in [run_flambeau("dynamic_net.py", cwd=tmp_path)]:
        steps = re.findall(r"^(\d+) (" + FLOAT + ")$", out, re.MULTILINE)
        assert [int(t) for t, _ in steps] == list(range(1999, 30000, 2000))
        losses = [float(v) for _, v in steps]
        assert all(math.isfinite(v) for v in losses) and losses[-1] < 30 and losses[-1] < losses[0]
        assert re.search(r"Result: y = .* x\^4 \? \+ .* x\^5 \?", out)


# ---------------------------------------------------------------------------------------- 4. FGSM tutorial
def test_fgsm_tutorial(tmp_path):
    """Train the tutorial's LeNet briefly (3 epochs on 6,000 images) with a PyTorch-style script, then
    attack 150 test images: accuracy falls as epsilon grows."""
    work = mnist_folder(tmp_path, n_train=6000, n_test=150)
    train_out = run_flambeau("fgsm_train_lenet.py", "--epochs", "3", "--momentum", "0.9", "--log-interval", "50",
                             cwd=work)
    train = TRAIN_LINE.findall(train_out)
    assert [(e, seen) for e, seen, *_ in train] == [(str(e), s) for e in (1, 2, 3) for s in ("0", "3200")]
    assert float(train[-1][4]) < float(train[0][4])
    assert os.path.exists(os.path.join(work, "data", "lenet_mnist_model.pth"))
    out = run_flambeau("fgsm_tutorial.py", cwd=work)
    assert "CUDA Available:  False" in out
    rows = re.findall(r"Epsilon: (" + FLOAT + r")\tTest Accuracy = (\d+) / (\d+) = (" + FLOAT + ")", out)
    assert [float(e) for e, *_ in rows] == [0, .05, .1, .15, .2, .25, .3]
    assert all(n == "150" for _, _, n, _ in rows)
    acc = [float(a) for *_, a in rows]
    assert all(abs(int(c) / 150 - a) < 1e-12 for (_, c, _, a) in rows for a in [float(a)])
    assert acc[0] > 0.7, out                                   # the briefly trained LeNet works
    assert all(later <= earlier + 2 / 150 for earlier, later in itertools.pairwise(acc)), acc
    assert acc[-1] < acc[0] - 0.2, acc                          # and the attack hurts it


# ---------------------------------------------------------------------------------------- 5. DCGAN
def test_dcgan_mnist(tmp_path):
    work = mnist_folder(tmp_path, n_train=64, n_test=16)
    out = run_flambeau("dcgan_mnist.py", "--dataroot", "../data", "--batchSize", "16", "--ngf", "8", "--ndf", "8",
                       "--nz", "16", "--niter", "2", "--workers", "2", cwd=work)
    assert "Random Seed:  999" in out and "ConvTranspose2d(16, 32, kernel_size=(4, 4), stride=(1, 1), bias=False)" in out
    stats = re.findall(r"\[(\d)/2\]\[0/4\]\tLoss_D: (" + FLOAT + r")\tLoss_G: (" + FLOAT + r")\tD\(x\): (" + FLOAT
                       + r")\tD\(G\(z\)\): (" + FLOAT + r") / (" + FLOAT + ")", out)
    assert [s[0] for s in stats] == ["0", "1"]
    for _, loss_d, loss_g, d_x, d_g1, d_g2 in stats:
        assert all(math.isfinite(float(v)) for v in (loss_d, loss_g))
        assert all(0 < float(v) < 1 for v in (d_x, d_g1, d_g2))
    assert "Finished Training: 8 iterations, 2 image grids" in out
    for name in ("losses.png", "real_vs_fake.png", "fake_samples.png", "netG.pth", "netD.pth"):
        assert os.path.getsize(os.path.join(work, name)) > 0, name
    import flambeau
    g = flambeau.load(os.path.join(work, "netG.pth"))
    assert tuple(g["main.0.weight"].shape) == (16, 32, 4, 4) and tuple(g["main.9.weight"].shape) == (8, 1, 4, 4)


def test_profiler_recipe(tmp_path):
    """The profiler recipe's calls run unchanged and give the same tables (columns, labelled
    ranges) and trace files as on PyTorch; op names differ (flambeau's ops are its Functions)."""
    dirs = [tmp_path / "flambeau", tmp_path / "torch"]
    for d in dirs:
        d.mkdir()
    procs = [_start("profiler_recipe.py", cwd=dirs[0]), _start("profiler_recipe.py", cwd=dirs[1], torch=True)]
    ours, theirs = (_finish(p) for p in procs)
    for out in (ours, theirs):
        assert out.count("Self CPU time total") == 6
        assert "model_inference" in out and "Input Shapes" in out and "Self CPU Mem" in out
    assert "Source Location" in ours       # with_stack: PyTorch 2.13's CPU build prints no stacks
    headers = [[[c for c in re.split(r"\s{2,}", line.strip()) if c != "Source Location"]
                for line in o.splitlines() if line.strip().startswith("Name ")] for o in (ours, theirs)]
    assert len(headers[0]) == 6 and headers[0] == headers[1]
    assert "ConvNd" in ours
    assert sorted(os.listdir(dirs[0])) == sorted(os.listdir(dirs[1])) == ["trace.json", "trace_4.json", "trace_8.json"]
    with open(dirs[0] / "trace_8.json") as f:
        names = {e["name"] for e in json.load(f)["traceEvents"]}
    assert {"ConvolutionBackward0", "Optimizer.step#SGD.step", "ProfilerStep#6", "ProfilerStep#7"} <= names
