"""flambeau.viz: the DOT text of a computation graph, and rendering it."""
import os
import re
import stat
from pathlib import Path
import sys

import numpy as np
import pytest

import flambeau
import flambeau.nn as nn
import flambeau.nn.functional as F
from flambeau.viz import draw_graph, make_dot, render


def _nodes_and_edges(dot):
    nodes = dict(re.findall(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.MULTILINE))
    edges = re.findall(r"^\s*(\w+) -> (\w+);", dot, re.MULTILINE)
    return nodes, edges


def _reaches(edges, start, goal):
    succ = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    stack, seen = [start], set()
    while stack:
        n = stack.pop()
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            stack.extend(succ.get(n, []))
    return False


def test_mlp_loss_graph_names_every_parameter_and_op():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = flambeau.randn(5, 4)
    y = flambeau.tensor([0, 1, 2, 0, 1])
    loss = F.cross_entropy(model(x), y)
    dot = draw_graph(loss, params=dict(model.named_parameters()))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes, edges = _nodes_and_edges(dot)
    labels = list(nodes.values())
    for name, p in model.named_parameters():
        shape = "(" + ", ".join(map(str, p.shape)) + ")"
        leaf = [n for n, lab in nodes.items() if lab == f"{name}\\n{shape}"]
        assert len(leaf) == 1, f"{name} {shape} not drawn once: {labels}"
        assert _reaches(edges, leaf[0], "out0")          # every parameter feeds the loss
    assert labels.count("AddmmBackward0") == 2
    assert labels.count("ReluBackward0") == 1
    assert labels.count("NllLossBackward0") == 1
    assert nodes["out0"] == "()"                          # the scalar result, with its shape
    assert len(nodes) == 4 + 4 + 1                        # 4 parameters, 4 ops, the output
    assert make_dot(loss, params=dict(model.named_parameters())) == dot


def test_node_names_match_pytorch():
    torch = pytest.importorskip("torch")

    def names(lib, a, b, c):
        out = ((a * b + c).exp() / b).sum()
        stack, seen = [out.grad_fn], []
        while stack:
            fn = stack.pop()
            if fn is None or "AccumulateGrad" in fn.name():
                continue
            seen.append(fn.name())
            stack.extend(n for n, _ in fn.next_functions)
        return sorted(seen), out

    arrays = [np.random.rand(3, 2).astype(np.float32) + 0.5 for _ in range(3)]
    ref, _ = names(torch, *[torch.tensor(a, requires_grad=True) for a in arrays])
    mine, out = names(flambeau, *[flambeau.tensor(a, requires_grad=True) for a in arrays])
    assert mine == ref
    labels = list(_nodes_and_edges(draw_graph(out))[0].values())
    assert sorted(lab for lab in labels if lab.endswith("Backward0")) == ref


def test_unnamed_leaves_show_shape_and_requires_grad():
    a = flambeau.randn(2, 3, requires_grad=True)
    b = flambeau.randn(3)                        # needs no gradient: not drawn
    dot = draw_graph((a * b).sum())
    nodes, edges = _nodes_and_edges(dot)
    assert "(2, 3)\\nrequires_grad=True" in nodes.values()
    assert "(3)" not in " ".join(nodes.values())
    assert len(edges) == 3                       # a -> Mul -> Sum -> output
    no_shapes = draw_graph((a * b).sum(), show_shapes=False)
    assert "(2, 3)" not in no_shapes and "requires_grad=True" in no_shapes


def test_shared_leaf_drawn_once_and_several_outputs():
    w = flambeau.randn(3, requires_grad=True)
    u, v = w * w, w.exp()
    dot = draw_graph([u, v], params={"w": w})
    nodes, edges = _nodes_and_edges(dot)
    assert list(nodes.values()).count("w\\n(3)") == 1
    assert {"out0", "out1"} <= set(nodes)
    wid = next(n for n, lab in nodes.items() if lab.startswith("w"))
    assert _reaches(edges, wid, "out0") and _reaches(edges, wid, "out1")


def test_a_5000_op_chain_needs_no_recursion():
    x = flambeau.ones(3, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(200, len(__import__("inspect").stack()) + 100))
    try:
        dot = draw_graph(y.sum())
    finally:
        sys.setrecursionlimit(old)
    labels = list(_nodes_and_edges(dot)[0].values())
    assert labels.count("MulBackward0") == 5000
    assert labels.count("SumBackward0") == 1


def test_bad_arguments():
    with pytest.raises(TypeError, match="Tensor"):
        draw_graph(np.ones(3))
    with pytest.raises(TypeError, match="params"):
        draw_graph(flambeau.ones(2, requires_grad=True).sum(), params={"w": np.ones(2)})


def test_render_dot_text_and_missing_graphviz(tmp_path, monkeypatch):
    dot = draw_graph((flambeau.ones(2, requires_grad=True) * 2).sum())
    p = render(dot, tmp_path / "g.dot")
    assert Path(p).read_text() == dot
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "graphviz", None)       # no graphviz Python package either
    with pytest.raises(RuntimeError, match="Graphviz"):
        render(dot, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    with pytest.raises(ValueError, match="unknown image type"):
        render(dot, tmp_path / "g.jpeg2")


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a stand-in for Graphviz's dot")
def test_render_calls_the_dot_program(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dot"
    # a stand-in `dot -Tfmt -o path` that records its format and copies its input to the output
    fake.write_text('#!/bin/sh\nfmt="$1"; out="$3"; { echo "$fmt"; cat; } > "$out"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    dot = draw_graph((flambeau.ones(2, requires_grad=True) * 2).sum())
    out = render(dot, tmp_path / "graph.png")
    text = Path(out).read_text()
    assert text.startswith("-Tpng\n") and text[len("-Tpng\n"):] == dot
    fake.write_text("#!/bin/sh\necho 'syntax error' >&2\nexit 1\n")
    with pytest.raises(RuntimeError, match="syntax error"):
        render(dot, tmp_path / "graph.svg")
