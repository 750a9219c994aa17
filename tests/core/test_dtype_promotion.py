"""PyTorch's type promotion for every pair of the 9 dtypes, with tensors, 0-d tensors and scalars."""
import itertools
import operator

import numpy as np
import pytest
import torch

import flambeau

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
OPS = {"add": operator.add, "mul": operator.mul, "div": operator.truediv, "sub": operator.sub,
       "eq": operator.eq, "lt": operator.lt, "ge": operator.ge}
SCALARS = [3, -2, 2.5, True, False, 0]


def _t(L, dt, zero_d=False):
    vals = [True] if dt == "bool" else [3]
    if not zero_d:
        vals = [True, False, True] if dt == "bool" else [1, 2, 3]
    return L.tensor(vals[0] if zero_d else vals).to(getattr(L, dt))


def _run(fn):
    """(dtype name, values) of the result, or the exception type."""
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001
        return type(e).__name__
    return str(r.dtype).split(".")[-1], r.tolist()


def _compare(fl_fn, th_fn, what):
    a, b = _run(fl_fn), _run(th_fn)
    if a != b:
        if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
            if np.allclose(np.asarray(a[1], float), np.asarray(b[1], float), rtol=1e-3, equal_nan=True):
                return None  # values agree within float16 resolution
        return f"{what}: flambeau {a} != torch {b}"
    return None


@pytest.mark.parametrize("kind", ["tensor-tensor", "tensor-0d", "0d-tensor", "0d-0d"])
@pytest.mark.parametrize("op", list(OPS))
def test_promotion_tensor_pairs(op, kind):
    f = OPS[op]
    za, zb = {"tensor-tensor": (False, False), "tensor-0d": (False, True), "0d-tensor": (True, False),
              "0d-0d": (True, True)}[kind]
    errs = []
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        e = _compare(lambda: f(_t(flambeau, d1, za), _t(flambeau, d2, zb)),
                     lambda: f(_t(torch, d1, za), _t(torch, d2, zb)), f"{d1} {op} {d2}")
        if e:
            errs.append(e)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("op", list(OPS))
def test_promotion_python_scalars(op, side):
    f = OPS[op]
    errs = []
    for d, s in itertools.product(DTYPES, SCALARS):
        if op == "div" and s in (0, False):
            continue
        for zero_d in (False, True):
            def fl():
                t = _t(flambeau, d, zero_d)
                return f(t, s) if side == "right" else f(s, t)

            def th():
                t = _t(torch, d, zero_d)
                return f(t, s) if side == "right" else f(s, t)
            e = _compare(fl, th, f"{d}{'(0-d)' if zero_d else ''} {op} {s!r} ({side})")
            if e:
                errs.append(e)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("fn", ["add", "mul", "div", "maximum", "where", "eq"])
def test_promotion_functions(fn):
    errs = []
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        def call(L):
            a, b = _t(L, d1), _t(L, d2)
            if fn == "where":
                return L.where(L.tensor([True, False, True]), a, b)
            return getattr(L, fn)(a, b)
        e = _compare(lambda: call(flambeau), lambda: call(torch), f"{fn}({d1}, {d2})")
        if e:
            errs.append(e)
    assert not errs, "\n".join(errs)


def test_promote_types_and_result_type():
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        assert str(flambeau.promote_types(getattr(flambeau, d1), getattr(flambeau, d2))).split(".")[-1] == \
            str(torch.promote_types(getattr(torch, d1), getattr(torch, d2))).split(".")[-1], (d1, d2)
        for za, zb in ((False, False), (False, True), (True, True)):
            a = str(flambeau.result_type(_t(flambeau, d1, za), _t(flambeau, d2, zb))).split(".")[-1]
            b = str(torch.result_type(_t(torch, d1, za), _t(torch, d2, zb))).split(".")[-1]
            assert a == b, (d1, d2, za, zb)
        for s in SCALARS:
            a = str(flambeau.result_type(_t(flambeau, d1), s)).split(".")[-1]
            b = str(torch.result_type(_t(torch, d1), s)).split(".")[-1]
            assert a == b, (d1, s)


def test_default_dtype_drives_promotion():
    for L in (flambeau, torch):
        L.set_default_dtype(L.float64)
    try:
        for code in ("L.tensor([1, 2]) * 2.5", "L.tensor([1, 2]) / 2", "L.tensor([1.5])", "L.arange(3.)",
                     "L.tensor([1, 2]).exp()", "L.ones(2)", "L.tensor([1.0], dtype=L.float32) * 2.5"):
            r = [str(eval(code, {"L": L}).dtype).split(".")[-1] for L in (flambeau, torch)]
            assert r[0] == r[1], (code, r)
    finally:
        for L in (flambeau, torch):
            L.set_default_dtype(L.float32)
    for L in (flambeau, torch):
        with pytest.raises(TypeError):
            L.set_default_dtype(L.int64)


def test_get_default_dtype_and_aliases():
    assert flambeau.get_default_dtype() is flambeau.float32
    for a, b in (("float", "float32"), ("double", "float64"), ("half", "float16"), ("long", "int64"),
                 ("int", "int32"), ("short", "int16")):
        assert getattr(flambeau, a) is getattr(flambeau, b)
    for d in DTYPES:
        fd, td = getattr(flambeau, d), getattr(torch, d)
        assert fd.is_floating_point == td.is_floating_point
        assert fd.is_signed == td.is_signed, d
        assert fd.itemsize == td.itemsize
