"""The `flambeau` command: train on the embedded dataset, eval the checkpoint, clear errors."""
import json
import os
import subprocess
import sys

import pytest

from flambeau.cli import main


def test_train_then_eval_on_embedded_digits(tmp_path, capsys):
    rc = main(["train", "--epochs", "3", "--out", str(tmp_path), "--name", "r", "--no-progress"])
    assert rc == 0
    run = tmp_path / "r"
    for f in ("model.safetensors", "metrics.json", "config.json", "curves.png", "confusion.png"):
        assert (run / f).exists(), f
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 3
    assert metrics["final_test_acc"] > 0.85  # an MLP learns the 8x8 digits within 3 epochs
    cm = metrics["confusion_matrix"]
    assert sum(map(sum, cm)) == 359  # the embedded test split (20 % of 1,797, stratified)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {metrics['final_test_acc']:.4f}" in out


def test_cnn_on_digits(tmp_path):
    assert main(["train", "--model", "cnn", "--epochs", "1", "--out", str(tmp_path), "--name", "c",
                 "--no-progress", "--no-figures", "--optimizer", "adam"]) == 0
    assert (tmp_path / "c" / "model.safetensors").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "--epochs must be positive"),
    (["train", "--model", "nope", "--epochs", "1"], "unknown model 'nope'"),
    (["train", "--dataset", "mnist", "--data-root", "/nonexistent-folder"], "data-root"),
    (["eval", "/nonexistent-run"], "not found"),
])
def test_bad_input_gives_one_clear_line(argv, message, tmp_path, capsys):
    rc = main(argv + (["--out", str(tmp_path)] if argv[0] == "train" else []))
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "flambeau", "train", "--epochs", "1", "--out", str(tmp_path),
                        "--name", "m", "--no-progress", "--no-figures"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
