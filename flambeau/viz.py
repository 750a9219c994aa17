"""Drawing the computation graph behind a result (what ``torchviz.make_dot`` does for PyTorch).

``draw_graph(loss, params=dict(model.named_parameters()))`` walks ``loss.grad_fn`` and its
``next_functions`` back to the leaves and returns the graph as Graphviz DOT text: one box per
backward Node (``MulBackward0``, ``AddmmBackward0`` …), one blue box per leaf tensor that
requires grad (its parameter name when ``params`` names it, its shape), and the result in green.
``render(dot, "graph.svg")`` turns the text into an image with Graphviz.

The walk is iterative (an explicit stack), so a graph thousands of ops deep is fine.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ._tensor import Tensor

__all__ = ["draw_graph", "make_dot", "render"]


def _shape(t):
    return "(" + ", ".join(str(int(s)) for s in t.shape) + ")"


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _leaf_label(t, names, show_shapes):
    name = names.get(id(t))
    parts = [name] if name is not None else []
    if show_shapes:
        parts.append(_shape(t))
    if name is None:
        parts.append("requires_grad=True" if t.requires_grad else "leaf")
    return "\n".join(parts)


def draw_graph(tensor, params=None, show_shapes=True, name="G"):
    """Graphviz DOT text of the autograd graph that produced ``tensor`` (or a list/tuple of tensors).

    ``params``: an optional ``{name: tensor}`` dict (``dict(model.named_parameters())``) used to
    label the leaves. Node names are those ``grad_fn`` prints. ``show_shapes`` adds shapes to the
    leaves and to the result(s).
    """
    outputs = list(tensor) if isinstance(tensor, (list, tuple)) else [tensor]
    for t in outputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph expects a Tensor (or a list of Tensors), got {type(t).__name__}")
    names = {}
    for pname, p in (params or {}).items():
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{pname!r}] is a {type(p).__name__}, not a Tensor")
        names[id(p)] = pname

    lines = [f"digraph {name} {{",
             '  graph [size="12,12"];',
             ('  node [style=filled, shape=box, align=left, fontsize=10, ranksep=0.1, height=0.2, '
              'fontname=monospace];')]
    seen = set()      # ids of the graph objects already drawn
    edges = set()

    def node_id(obj):
        # a leaf shows up as a fresh AccumulateGrad wrapper each time: key it on its tensor
        var = getattr(obj, "variable", None)
        return f"n{id(var) if var is not None else id(obj)}"

    stack = []
    for k, out in enumerate(outputs):
        oid = f"out{k}"
        label = _shape(out) if show_shapes else "output"
        if id(out) in names:
            label = names[id(out)] + ("\n" + label if show_shapes else "")
        lines.append(f"  {oid} [label={_quote(label)}, fillcolor=darkolivegreen1];")
        if out.grad_fn is not None:
            target = node_id(out.grad_fn)
            edges.add((target, oid))
            stack.append(out.grad_fn)
        elif out.requires_grad:   # the result is itself a leaf
            lines[-1] = f"  {oid} [label={_quote(_leaf_label(out, names, show_shapes))}, fillcolor=lightblue];"

    while stack:
        fn = stack.pop()
        nid = node_id(fn)
        if nid in seen:
            continue
        seen.add(nid)
        var = getattr(fn, "variable", None)
        if var is not None:   # AccumulateGrad: draw the leaf tensor itself
            lines.append(f"  {nid} [label={_quote(_leaf_label(var, names, show_shapes))}, fillcolor=lightblue];")
            continue
        lines.append(f"  {nid} [label={_quote(fn.name())}, fillcolor=lightgrey];")
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            edges.add((node_id(nxt), nid))
            if node_id(nxt) not in seen:
                stack.append(nxt)
    lines.extend(f"  {a} -> {b};" for a, b in sorted(edges))
    lines.append("}")
    return "\n".join(lines) + "\n"


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """``torchviz.make_dot``'s signature: the DOT text of ``var``'s graph (attributes are not shown)."""
    return draw_graph(var, params=params)


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def render(dot, path):
    """Write ``dot`` (DOT text from ``draw_graph``) to ``path``: ``.dot``/``.gv`` as text, ``.svg``,
    ``.png`` or ``.pdf`` through Graphviz (the ``dot`` program, or the ``graphviz`` Python package).
    Returns ``path``."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".dot", ".gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot)
        return path
    if ext not in _FORMATS:
        raise ValueError(f"render: unknown image type {ext or '(no extension)'!r} for {path}; "
                         "use .svg, .png, .pdf, or .dot for the DOT text")
    fmt = _FORMATS[ext]
    exe = shutil.which("dot")
    if exe is not None:
        res = subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot.encode("utf-8"), capture_output=True,
                             check=False)
        if res.returncode != 0:
            raise RuntimeError(f"Graphviz 'dot' failed ({res.returncode}): {res.stderr.decode(errors='replace')}")
        return path
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            data = graphviz.Source(dot).pipe(format=fmt)
        except Exception as e:  # the package is there but the Graphviz programs are not
            raise RuntimeError(f"render: the graphviz package could not run Graphviz ({e}); install the "
                               "Graphviz programs (e.g. `apt install graphviz`)") from e
        with open(path, "wb") as f:
            f.write(data)
        return path
    raise RuntimeError(
        f"render: cannot write {path}: drawing {fmt.upper()} needs Graphviz, which is not installed "
        "(no `dot` program on PATH and no `graphviz` Python package). Install it (e.g. `apt install graphviz` "
        "or `conda install graphviz`), or save the DOT text with render(dot, 'graph.dot') and open it "
        "in any Graphviz viewer.")
