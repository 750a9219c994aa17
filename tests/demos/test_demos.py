"""The 2-D course experiments (`flambeau demo NAME --fast`): figures written, numbers right."""
import json
import os

import pytest

from flambeau.demos import run


def _files(out, name):
    return set(os.listdir(os.path.join(out, name)))


def test_perceptron(tmp_path):
    m = run("perceptron", out=str(tmp_path), fast=True)
    assert m["separable_epochs_to_converge"] is not None  # converges on separable data
    assert m["xor_perceptron_converged"] is False        # and never on XOR
    assert m["xor_perceptron_accuracy"] <= 0.8
    assert m["xor_mlp_accuracy"] >= 0.95                 # a hidden layer solves XOR
    assert {"perceptron.png", "metrics.json"} <= _files(tmp_path, "perceptron")


def test_inequality_converges_in_under_100_iterations(tmp_path):
    m = run("inequality", out=str(tmp_path), fast=True)
    assert m["iterations_loop"] < 100 and m["iterations_batched"] < 100
    assert m["final_error"] < 1e-5
    assert m["a_loop"] == pytest.approx(m["a_batched"], rel=1e-5)  # the loop and the batched form agree
    assert m["a_batched"] == pytest.approx(0.5, abs=1e-3)          # 2a = 1: the smallest exact solution
    saved = json.loads((tmp_path / "inequality" / "metrics.json").read_text())
    assert saved["iterations_batched"] == m["iterations_batched"]


def test_three_classes_margin_moves_points_inside_their_zones(tmp_path):
    m = run("three-classes", out=str(tmp_path), fast=True)
    assert m["delta_0"]["accuracy"] == 1.0 and m["delta_0"]["final_error"] == 0.0
    assert m["delta_2"]["accuracy"] == 1.0
    assert m["delta_2"]["min_margin"] > m["delta_0"]["min_margin"]
    assert m["delta_2"]["min_margin"] >= 1.0
    assert "regions.png" in _files(tmp_path, "three-classes")


def test_helix_wider_layers_learn_the_arms(tmp_path):
    m = run("helix", out=str(tmp_path), fast=True)
    acc = {int(k): v["accuracy"] for k, v in m["results"].items()}
    assert acc[100] >= 0.9
    assert acc[100] > acc[10]
    assert "helix.png" in _files(tmp_path, "helix")


def test_demo_command_rejects_options_a_demo_lacks(capsys):
    from flambeau.cli import main
    assert main(["demo", "helix", "--data-root", "somewhere"]) == 2
    assert "demo 'helix' has no option --data-root" in capsys.readouterr().err


def test_demo_command_reports_missing_data_in_one_line(tmp_path, capsys):
    from flambeau.cli import main
    assert main(["demo", "mnist-linear", "--data-root", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "Traceback" not in err
