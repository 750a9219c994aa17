"""The example scripts run and say what they claim."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gradcheck_tutorial():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "gradcheck_tutorial.py")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(":", 1) for line in r.stdout.strip().splitlines())
    assert lines["tanh(x @ w).sum()"].strip() == "True"
    assert lines["buggy Cube"].strip() == "False"
    assert lines["fixed Cube"].strip() == "True"
    num, ana = [float(p.split()[-1]) for p in lines["d f / d x[0,0]"].split(",")]
    assert abs(num - ana) < 1e-6
