"""Every ``ArrayFunction`` defined in ``flambeau.ops`` has a gradcheck case here, and the case
really runs that class's backward.

``CASES`` maps a class key (``"<module>.<ClassName>"``, see :func:`key`) to
``(fn, arrays)``: ``fn(flambeau, *tensors)`` is gradchecked in float64 on ``arrays``, and the
graph it builds must contain a node of that class. Authors of new op families add their
classes' cases to ``CASES`` (or to a module-level ``GRADCHECK_CASES`` dict of the same form in
their own test module ``tests/<...>/test_<family>.py``, merged below).
"""
import importlib
import pkgutil

import numpy as np
import pytest

import flambeau
import flambeau.ops
from flambeau.autograd.function import ArrayFunction
from helpers import gradcheck

for _m in pkgutil.iter_modules(flambeau.ops.__path__):
    importlib.import_module(f"flambeau.ops.{_m.name}")


def key(cls):
    """``"shape.Reshape"``; a class made in a factory also names its node (``[FloorBackward0]``)."""
    k = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}"
    if "<locals>" in cls.__qualname__:
        k += f"[{cls._node_name}]"
    return k


def _subclasses(c):
    for s in c.__subclasses__():
        yield s
        yield from _subclasses(s)


ALL = {key(c): c for c in _subclasses(ArrayFunction) if c.__module__.startswith("flambeau.ops.")}


def _x(*shape, low=0.2, high=0.9, seed=0):
    """Distinct values in [low, high] (away from kinks and ties)."""
    n = int(np.prod(shape))
    return (low + (high - low) * (np.random.default_rng(seed).permutation(n) + 0.5) / n).reshape(shape)


X = _x(3, 4)
Y = _x(3, 4, seed=1)
V = _x(4, seed=2)
B = _x(2, 3, 4, seed=3)


def _L(lib, a):
    return lib.tensor(a)


CASES = {
    # ---------------------------------------------------------------- elementwise
    "elementwise.Add": (lambda lib, a, b: a + b * 2, (X, V)),
    "elementwise.Sub": (lambda lib, a, b: a - b, (X, V)),
    "elementwise.Rsub": (lambda lib, a: 2.0 - a, (X,)),
    "elementwise.Mul": (lambda lib, a, b: a * b, (X, Y)),
    "elementwise.Div": (lambda lib, a, b: a / b, (X, Y)),
    # quotients of (a/2 + 3) / (b/20 + 1.5) stay inside (2, 2.3): no jump of floor/remainder
    "elementwise.RoundingDiv": (lambda lib, a, b: lib.div(a * .5 + 3, b * .05 + 1.5, rounding_mode="floor") * a,
                                (X, Y)),
    # PyTorch: "the derivative for 'floor_divide' is not implemented"; flambeau raises the same
    "elementwise.FloorDivide": (lambda lib, a, b: lib.floor_divide(a * .5 + 3, b * .05 + 1.5), (X, Y),
                                dict(raises="derivative for 'floor_divide' is not implemented")),
    "elementwise.Remainder": (lambda lib, a, b: lib.remainder(a * .5 + 3, b * .05 + 1.5), (X, Y)),
    "elementwise.RemainderScalar": (lambda lib, a: lib.remainder(a * .5 + 3, 1.5), (X,)),
    "elementwise.Fmod": (lambda lib, a, b: lib.fmod(a * .5 + 3, b * .05 + 1.5), (X, Y)),
    "elementwise.FmodScalar": (lambda lib, a: lib.fmod(a * .5 + 3, 1.5), (X,)),
    "elementwise.Neg": (lambda lib, a: -a, (X,)),
    "elementwise.Pow": (lambda lib, a, b: a ** b, (X, Y)),
    "elementwise.PowScalar": (lambda lib, a: a ** 2.5, (X,)),
    "elementwise.RPowScalar": (lambda lib, a: 2.0 ** a, (X,)),
    "elementwise.Abs": (lambda lib, a: (a - 0.5).abs(), (X,)),
    "elementwise.Exp": (lambda lib, a: a.exp(), (X,)),
    "elementwise.Exp2": (lambda lib, a: lib.exp2(a), (X,)),
    "elementwise.Expm1": (lambda lib, a: a.expm1(), (X,)),
    "elementwise.Log": (lambda lib, a: a.log(), (X,)),
    "elementwise.Log2": (lambda lib, a: a.log2(), (X,)),
    "elementwise.Log10": (lambda lib, a: a.log10(), (X,)),
    "elementwise.Log1p": (lambda lib, a: a.log1p(), (X,)),
    "elementwise.Sqrt": (lambda lib, a: a.sqrt(), (X,)),
    "elementwise.Rsqrt": (lambda lib, a: a.rsqrt(), (X,)),
    "elementwise.Sin": (lambda lib, a: a.sin(), (X,)),
    "elementwise.Cos": (lambda lib, a: a.cos(), (X,)),
    "elementwise.Tan": (lambda lib, a: a.tan(), (X,)),
    "elementwise.Tanh": (lambda lib, a: a.tanh(), (X,)),
    "elementwise.Sinh": (lambda lib, a: a.sinh(), (X,)),
    "elementwise.Cosh": (lambda lib, a: a.cosh(), (X,)),
    "elementwise.Asin": (lambda lib, a: a.asin(), (X,)),
    "elementwise.Acos": (lambda lib, a: a.acos(), (X,)),
    "elementwise.Atan": (lambda lib, a: a.atan(), (X,)),
    "elementwise.Sigmoid": (lambda lib, a: a.sigmoid(), (X,)),
    "elementwise.Erf": (lambda lib, a: a.erf(), (X,)),
    "elementwise.Reciprocal": (lambda lib, a: a.reciprocal(), (X,)),
    "elementwise.Square": (lambda lib, a: a.square(), (X,)),
    "elementwise.Relu": (lambda lib, a: (a - 0.5).relu(), (X,)),
    "elementwise._zero_grad_unary.<locals>.Op[SignBackward0]": (lambda lib, a: (a - 0.5).sign() * a, (X,)),
    "elementwise._zero_grad_unary.<locals>.Op[FloorBackward0]": (lambda lib, a: (a * 3).floor() * a, (X,)),
    "elementwise._zero_grad_unary.<locals>.Op[CeilBackward0]": (lambda lib, a: (a * 3).ceil() * a, (X,)),
    "elementwise._zero_grad_unary.<locals>.Op[TruncBackward0]": (lambda lib, a: (a * 3).trunc() * a, (X,)),
    "elementwise.Round": (lambda lib, a: (a * 3).round() * a, (X,)),
    "elementwise.RoundDecimals": (lambda lib, a: (a * 3).round(decimals=1) * a, (X,)),
    "elementwise.Frac": (lambda lib, a: (a * 3).frac(), (X,)),
    "elementwise.Clamp": (lambda lib, a: a.clamp(0.3, 0.8), (X,)),
    "elementwise.ClampTensor": (lambda lib, a, lo, hi: a.clamp(lo * 0.9, hi + 0.3), (X, Y, V)),
    "elementwise.Maximum": (lambda lib, a, b: lib.maximum(a, b), (X, Y)),
    "elementwise.Minimum": (lambda lib, a, b: lib.minimum(a, b), (X, Y)),
    "elementwise.Where": (lambda lib, a, b: lib.where(a > 0.5, a, b), (X, Y)),
    "elementwise.Lerp": (lambda lib, a, b, w: lib.lerp(a, b, w), (X, Y, V)),
    "elementwise.LerpScalar": (lambda lib, a, b: lib.lerp(a, b, 0.3), (X, Y)),
    "elementwise.NanToNum": (lambda lib, a: lib.nan_to_num(a), (X,)),
    # the float32 round trip quantises values to ~6e-8: finite differences need a larger step
    "elementwise.ToDtype": (lambda lib, a: a.float().double() * a, (X,), dict(eps=1e-3, atol=1e-4)),
    "elementwise.Clone": (lambda lib, a: a.clone(), (X,)),
    # ---------------------------------------------------------------- reductions
    "reduce.Sum": (lambda lib, a: a.sum(1), (B,)),
    "reduce.SumAll": (lambda lib, a: a.sum(), (B,)),
    "reduce.NanSum": (lambda lib, a: a.nansum(0), (B,)),
    "reduce.Mean": (lambda lib, a: a.mean((0, 2), keepdim=True), (B,)),
    "reduce.MeanAll": (lambda lib, a: a.mean(), (B,)),
    "reduce.Prod": (lambda lib, a: a.prod(1), (B,)),
    "reduce.ProdAll": (lambda lib, a: a.prod(), (X,)),
    "reduce.AmaxAmin": (lambda lib, a: a.amax(1), (B,)),
    "reduce.Amin": (lambda lib, a: a.amin((0, 1)), (B,)),
    "reduce.MaxAll": (lambda lib, a: a.max(), (B,)),
    "reduce.MinAll": (lambda lib, a: a.min(), (B,)),
    "reduce.MaxDim": (lambda lib, a: a.max(1).values, (B,)),
    "reduce.MinDim": (lambda lib, a: a.min(-1, keepdim=True).values, (B,)),
    "reduce.Var": (lambda lib, a: a.var(1), (B,)),
    "reduce.Std": (lambda lib, a: a.std(), (B,)),
    "reduce.VectorNorm": (lambda lib, a: a.norm(dim=1), (B,)),
    "reduce.LogSumExp": (lambda lib, a: a.logsumexp(2), (B,)),
    "reduce.Softmax": (lambda lib, a: a.softmax(1), (B,)),
    "reduce.LogSoftmax": (lambda lib, a: a.log_softmax(-1), (B,)),
    "reduce.Cumsum": (lambda lib, a: a.cumsum(1), (B,)),
    "reduce.Cumprod": (lambda lib, a: a.cumprod(2), (B,)),
    # ---------------------------------------------------------------- shape
    "shape.Reshape": (lambda lib, a: a.view(4, 3), (X,)),
    "shape.Permute": (lambda lib, a: a.permute(2, 0, 1), (B,)),
    "shape.Expand": (lambda lib, a: a.expand(2, 4), (V,)),
    "shape.Slice": (lambda lib, a: a[1:, ::2], (X,)),
    "shape.SplitOp": (lambda lib, a: a.split([1, 3], 1), (X,)),
    "shape._Diagonal": (lambda lib, a: a.diagonal(1), (X,)),
    "shape.Cat": (lambda lib, a, b: lib.cat([a, b, a], 1), (X, Y)),
    "shape.Repeat": (lambda lib, a: a.repeat(2, 1, 2), (X,)),
    "shape.Flip": (lambda lib, a: a.flip((0, 1)), (X,)),
    "shape.Roll": (lambda lib, a: a.roll((1, -1), (0, 1)), (X,)),
    "shape.TriMask": (lambda lib, a: a.tril(1), (X,)),
    "shape.TakeAlong": (lambda lib, a: a.sort(1).values, (X,)),
    "shape.UnfoldDim": (lambda lib, a: a.unfold(1, 2, 1), (X,)),
    "shape.ViewOf": (lambda lib, a: _view_after_base_write(a), (X,)),
    # ---------------------------------------------------------------- indexing
    "indexing.Index": (lambda lib, a: a[[0, 2, 0]], (X,)),
    "indexing.IndexPut": (lambda lib, a, v: a.index_put((_L(lib, [1, 0]),), v[:2]), (X, X[:, :1] * 2)),
    "indexing._IndexAccumulate": (lambda lib, a, v: a.index_put((_L(lib, [1, 1]),), v, accumulate=True), (X, V)),
    "indexing.Gather": (lambda lib, a: a.gather(1, _L(lib, [[0, 0], [3, 1], [2, 2]])), (X,)),
    "indexing.Scatter": (lambda lib, a, s: a.scatter_add(1, _L(lib, [[0, 0], [3, 1], [2, 2]]), s[:, :2]), (X, Y)),
    "indexing.ScatterReduce": (lambda lib, a, s: a.scatter_reduce(1, _L(lib, [[0, 0], [3, 1], [2, 2]]), s[:, :2],
                                                                  "prod", include_self=False)
                               + a.scatter_reduce(0, _L(lib, [[1, 0, 1, 2]]), s[:1], "amax"), (X, Y)),
    "indexing.IndexSelect": (lambda lib, a: a.index_select(0, _L(lib, [2, 2, 0])), (X,)),
    "indexing.MaskedFill": (lambda lib, a, v: a.masked_fill(a > 0.5, v.sum()), (X, V)),
    "indexing.IndexAdd": (lambda lib, a, s: a.index_add(0, _L(lib, [0, 0, 2]), s), (X, Y)),
    # ---------------------------------------------------------------- linalg, in-place
    "linalg.Matmul": (lambda lib, a, b: a @ b, (B, X.T.copy())),
    "linalg.Linear": (lambda lib, a, w, b: flambeau.ops.linalg.linear(a, w, b), (B, X, _x(3))),
    "linalg.Einsum": (lambda lib, a, b: lib.einsum("bij,kj->bik", a, b), (B, X)),
    "inplace.CopySlices": (lambda lib, a, w: _write_through_view(a, w), (X, V)),
}


def _view_after_base_write(a):
    y = a * 1
    v = y[1:]
    y.mul_(2)
    return v * 1


def _write_through_view(a, w):
    y = a * 1
    y[1].mul_(w)
    return y


def _merge_family_cases():
    """``GRADCHECK_CASES`` dicts that op-family test modules define, merged into CASES."""
    import os
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not (f.startswith("test_") and f.endswith(".py")) or f == os.path.basename(__file__):
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                if "GRADCHECK_CASES" not in fh.read():
                    continue
            name = "_registry_" + os.path.relpath(path, root).replace(os.sep, "_")[:-3]
            if name in sys.modules:
                mod = sys.modules[name]
            else:
                spec = importlib.util.spec_from_file_location(name, path)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                spec.loader.exec_module(mod)
            for k, v in getattr(mod, "GRADCHECK_CASES", {}).items():
                CASES.setdefault(k, v)


_merge_family_cases()


def _node_classes(outputs):
    """The Function classes of every node reachable from ``outputs``."""
    from flambeau.autograd.function import Node
    outs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    seen, stack, found = set(), [o.grad_fn for o in outs if isinstance(o, flambeau.Tensor) and o.grad_fn], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        found.add(n._fn)
        for e in n._next:
            if e is not None and isinstance(e[0], Node):
                stack.append(e[0])
    return found


def test_every_array_function_has_a_case():
    missing = sorted(k for k in ALL if k not in CASES)
    assert not missing, ("ArrayFunction classes without a gradcheck case in "
                         f"tests/core/test_gradcheck_registry.py CASES ({len(missing)}): " + ", ".join(missing))


def test_no_stale_cases():
    stale = sorted(k for k in CASES if k not in ALL)
    assert not stale, f"cases for classes that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(k for k in CASES if k in ALL))
def test_gradcheck_case(name):
    fn, arrays, *opts = CASES[name]
    opts = dict(opts[0]) if opts else {}
    raises = opts.pop("raises", None)
    ins = [flambeau.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
    out = fn(flambeau, *ins)
    # a base class (its backward shared by subclasses) is covered by a node of a subclass
    assert any(issubclass(c, ALL[name]) for c in _node_classes(out)), \
        f"the case for {name} does not run {name}'s backward"
    if raises is not None:
        with pytest.raises(RuntimeError, match=raises):
            gradcheck(fn, *arrays, **opts)
        return
    assert gradcheck(fn, *arrays, **opts)
