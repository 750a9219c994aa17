"""`python -m flambeau.compat SCRIPT.py`: PyTorch programs run unchanged on flambeau."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import argparse
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR
    from torch.utils.data import DataLoader, TensorDataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--save-model", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(1)
    use_accel = torch.accelerator.is_available()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert not use_accel and str(device) == "cpu"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.fc1 = nn.Linear(8 * 3 * 3, 2)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = torch.flatten(x, 1)
            return F.log_softmax(self.fc1(x), dim=1)

    y = torch.randint(0, 2, (256,))
    x = torch.randn(256, 1, 8, 8) * 0.5
    x[y == 0, :, :, :4] += 1.0   # class 0: the bright half is on the left
    x[y == 1, :, :, 4:] += 1.0   # class 1: on the right
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=2, pin_memory=True,
                        persistent_workers=True)
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(dim=1) == y).float().mean().item()
    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")
        model.load_state_dict(torch.load("mnist_cnn.pt"))
    print(f"accuracy {acc:.3f}")
''')


def _run(tmp_path, script, *args):
    path = tmp_path / "script.py"
    path.write_text(script)
    return subprocess.run([sys.executable, "-m", "flambeau.compat", str(path), *args], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_pytorch_script_runs_unchanged(tmp_path):
    r = _run(tmp_path, SCRIPT, "--epochs", "3", "--save-model")
    assert r.returncode == 0, r.stderr
    acc = float(r.stdout.strip().split()[-1])
    assert acc > 0.9
    assert (tmp_path / "mnist_cnn.pt").exists()


def test_missing_feature_is_one_clear_line(tmp_path):
    r = _run(tmp_path, "import torch\nx = torch.ones(3)\ny = torch.fft.fft(x)\n")
    assert r.returncode == 1
    assert r.stderr.strip() == "flambeau does not implement torch.fft (used at script.py:3)"


def test_missing_module_is_one_clear_line(tmp_path):
    r = _run(tmp_path, "import torch\nimport torch.distributed.rpc\n")
    assert r.returncode == 1
    assert r.stderr.strip().startswith("flambeau does not implement torch.distributed")
    assert "script.py:2" in r.stderr
