"""Convolutions through oneDNN, when it is installed (``pip install 'flambeau[onednn]'``).

oneDNN is the CPU library of deep-learning primitives that PyTorch itself runs its CPU
convolutions on. flambeau's own convolution (``ops/conv.py``: im2col and one GEMM in NumPy's
BLAS) is the reference and always available; when oneDNN is importable and
``flambeau.backends.mkldnn.enabled`` is true (the default, as in PyTorch), float32 convolutions
go through oneDNN instead, and so do transposed convolutions (the adjoint: a transposed
convolution's forward is a convolution's backward-data primitive, its backward that
convolution's forward and weight gradient). Its JIT kernels never materialise the columns and keep the
activations in a channel-blocked layout during the computation, which the BLAS cannot do:
a 64×32×26×26 → 64 channels 3×3 convolution, forward and backward, takes 13.6 ms instead of
28.6 ms on two cores, and gives values bitwise equal to PyTorch's.

The bindings are a thin ``ctypes`` layer over oneDNN's C API (v3, opaque memory descriptors):
for each convolution geometry a :class:`ConvPlan` creates, once, the forward, backward-data and
backward-weights primitives with layouts of oneDNN's choosing (``format_tag any``), and the
reorders between flambeau's contiguous NCHW arrays and those layouts. Nothing else in flambeau
depends on it; any failure to load or to create a primitive leaves the convolution to NumPy.

Threads: oneDNN runs on its OpenMP runtime with ``flambeau.get_num_threads()`` threads, whose
workers flambeau asks to sleep between calls (``OMP_WAIT_POLICY=PASSIVE``, see ``_load``). Its
results for a given thread count are deterministic (run to run bit-identical), but unlike the
NumPy path they may differ in the last bits between thread counts.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

import numpy as np

# oneDNN C API constants (dnnl_types.h, v3)
_CPU, _F32, _ANY = 1, 3, 1                                       # engine kind, data type, format tag
_FORWARD_TRAINING, _CONV_DIRECT = 64, 1
_Q_SRC, _Q_DIFF_SRC, _Q_WEIGHTS, _Q_DIFF_WEIGHTS, _Q_DST, _Q_DIFF_DST = 129, 130, 131, 132, 133, 134
_Q_IMPL_INFO = 8
_SRC, _DST, _WEIGHTS, _BIAS = 1, 17, 33, 41                      # DNNL_ARG_*
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS, _DIFF_BIAS = 129, 145, 161, 169
_MAX_NDIMS = 12

_vp = ctypes.c_void_p
_Dims = ctypes.c_int64 * _MAX_NDIMS


class _Arg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _vp)]


_lock = threading.RLock()          # one primitive runs at a time (a shared stream and scratch buffers)
_state = {"lib": None, "forked": False}     # lib: None, not looked for yet; False, unavailable
# forked: this process is a fork of one that ran oneDNN (see _after_fork_in_child)


def _after_fork_in_child():
    """GNU OpenMP does not survive a fork: a child whose parent ran oneDNN hangs in its first
    parallel region (even on one thread). Such a child computes its convolutions with NumPy."""
    global _lock
    _lock = threading.RLock()
    if _state["lib"]:
        _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _library_paths():
    """Where the ``onednn-cpu-gomp`` wheel puts the library (``<prefix>/lib``), then the system's."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        yield os.path.join(prefix, "lib", "libdnnl.so.3")
    found = ctypes.util.find_library("dnnl")
    if found:
        yield found


_SIGNATURES = {   # name: (argtypes, restype); every handle is a void pointer
    "dnnl_engine_create": ((ctypes.POINTER(_vp), ctypes.c_int, ctypes.c_size_t), ctypes.c_int),
    "dnnl_stream_create": ((ctypes.POINTER(_vp), _vp, ctypes.c_uint), ctypes.c_int),
    "dnnl_stream_wait": ((_vp,), ctypes.c_int),
    "dnnl_memory_desc_create_with_tag": ((ctypes.POINTER(_vp), ctypes.c_int, _Dims, ctypes.c_int, ctypes.c_int),
                                         ctypes.c_int),
    "dnnl_memory_desc_create_with_strides": ((ctypes.POINTER(_vp), ctypes.c_int, _Dims, ctypes.c_int, _Dims),
                                             ctypes.c_int),
    "dnnl_memory_desc_destroy": ((_vp,), ctypes.c_int),
    "dnnl_memory_desc_equal": ((_vp, _vp), ctypes.c_int),
    "dnnl_memory_desc_get_size": ((_vp,), ctypes.c_size_t),
    "dnnl_memory_create": ((ctypes.POINTER(_vp), _vp, _vp, _vp), ctypes.c_int),
    "dnnl_memory_set_data_handle": ((_vp, _vp), ctypes.c_int),
    "dnnl_convolution_forward_primitive_desc_create": (
        (ctypes.POINTER(_vp), _vp, ctypes.c_int, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp),
        ctypes.c_int),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        (ctypes.POINTER(_vp), _vp, ctypes.c_int, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp), ctypes.c_int),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        (ctypes.POINTER(_vp), _vp, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp),
        ctypes.c_int),
    "dnnl_reorder_primitive_desc_create": ((ctypes.POINTER(_vp), _vp, _vp, _vp, _vp, _vp), ctypes.c_int),
    "dnnl_primitive_desc_query_md": ((_vp, ctypes.c_int, ctypes.c_int), _vp),
    "dnnl_primitive_desc_query": ((_vp, ctypes.c_int, ctypes.c_int, _vp), ctypes.c_int),
    "dnnl_primitive_create": ((ctypes.POINTER(_vp), _vp), ctypes.c_int),
    "dnnl_primitive_execute": ((_vp, _vp, ctypes.c_int, ctypes.POINTER(_Arg)), ctypes.c_int),
}


def _load():
    """The library with its engine and stream, or False (not installed, or not oneDNN v3)."""
    # oneDNN's OpenMP workers spin for a while after each parallel region by default, taking the
    # cores from flambeau's own threads, which run the batch norms, activations and adds between
    # two convolutions: a ResNet-20 step took 267 ms that way, 218 ms with sleeping workers. The
    # runtime reads this once, when it starts (here, unless something in the process started it
    # before); a value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
            for name, (argtypes, restype) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = argtypes, restype
        except (OSError, AttributeError):
            continue
        engine, stream = _vp(), _vp()
        if lib.dnnl_engine_create(ctypes.byref(engine), _CPU, 0) != 0:
            continue
        if lib.dnnl_stream_create(ctypes.byref(stream), engine, 1) != 0:
            continue
        try:   # oneDNN's OpenMP runtime, to give it flambeau's thread count
            omp = ctypes.CDLL("libgomp.so.1").omp_set_num_threads
            omp.argtypes, omp.restype = (ctypes.c_int,), None
        except (OSError, AttributeError):
            omp = None
        return {"lib": lib, "engine": engine, "stream": stream, "omp_threads": omp, "threads": None}
    return False


def available() -> bool:
    """Whether oneDNN could be loaded (looked for once)."""
    if _state["lib"] is None:
        with _lock:
            if _state["lib"] is None:
                _state["lib"] = _load()
    return bool(_state["lib"])


class _OneDNNError(RuntimeError):
    pass


def _check(status, what):
    if status != 0:
        raise _OneDNNError(f"oneDNN: {what} failed (status {status})")


def _dims(values):
    d = _Dims()
    for i, v in enumerate(values):
        d[i] = v
    return d


class _Desc:
    """An owned memory descriptor: plain contiguous (row-major) or ``any`` (the primitive picks)."""

    def __init__(self, shape, plain):
        L = _state["lib"]["lib"]
        self.L, self.md = L, _vp()
        if plain:
            strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
            st = L.dnnl_memory_desc_create_with_strides(ctypes.byref(self.md), len(shape), _dims(shape), _F32,
                                                        _dims(strides))
        else:
            st = L.dnnl_memory_desc_create_with_tag(ctypes.byref(self.md), len(shape), _dims(shape), _F32, _ANY)
        _check(st, "memory descriptor")

    def __del__(self):
        if self.md:
            self.L.dnnl_memory_desc_destroy(self.md)


class _Memory:
    """A memory object over a descriptor; its data pointer is set before each use."""

    def __init__(self, md):
        S = _state["lib"]
        self.L, self.h = S["lib"], _vp()
        _check(self.L.dnnl_memory_create(ctypes.byref(self.h), md, S["engine"], None), "memory")

    def on(self, ptr):
        _check(self.L.dnnl_memory_set_data_handle(self.h, ptr), "memory handle")
        return self.h


def _primitive(pd):
    p = _vp()
    _check(_state["lib"]["lib"].dnnl_primitive_create(ctypes.byref(p), pd), "primitive")
    return p


def _execute(prim, args):
    S = _state["lib"]
    arr = (_Arg * len(args))(*[_Arg(a, m) for a, m in args])
    _check(S["lib"].dnnl_primitive_execute(prim, S["stream"], len(args), arr), "execute")
    _check(S["lib"].dnnl_stream_wait(S["stream"]), "stream wait")


class _Operand:
    """One argument of a primitive: the user's contiguous array (``user`` descriptor) and the
    layout the primitive wants (``md``, owned by its primitive descriptor). When they differ, a
    cached reorder copies between them through a scratch buffer."""

    def __init__(self, user, md, role, to_user):
        L = _state["lib"]["lib"]
        self.role, self.user_mem, self.md, self.last = role, _Memory(user.md), md, None
        self.same = bool(L.dnnl_memory_desc_equal(user.md, md))
        if not self.same:
            self.nbytes = int(L.dnnl_memory_desc_get_size(md))
            self.mem = _Memory(md)
            src, dst = (md, user.md) if to_user else (user.md, md)
            pd = _vp()
            eng = _state["lib"]["engine"]
            _check(L.dnnl_reorder_primitive_desc_create(ctypes.byref(pd), src, eng, dst, eng, None), "reorder")
            self.reorder = _primitive(pd)

    def _buffer(self, keep):
        """This operand's scratch buffer in the primitive's layout; ``keep`` holds it until the
        primitive has run (a buffer too large for the scratch cache is the caller's alone)."""
        from .ops._buffers import scratch
        buf = scratch(("onednn", self.role), (self.nbytes,), np.uint8)
        keep.append(buf)
        self.last = buf.ctypes.data
        return self.mem.on(self.last)

    def bring_as(self, other, a, keep):
        """Like ``bring``, reusing what ``other`` (an operand of another primitive, brought in last
        under the same lock) holds when both want the same layout: no second reorder."""
        L = _state["lib"]["lib"]
        if not self.same and not other.same and other.last and L.dnnl_memory_desc_equal(self.md, other.md):
            return self.mem.on(other.last)
        return self.bring(a, keep)

    def bring(self, a, keep):
        """The memory handle of ``a`` in the primitive's layout (reordered in when needed)."""
        if self.same:
            return self.user_mem.on(a.ctypes.data)
        m = self._buffer(keep)
        _execute(self.reorder, [(_SRC, self.user_mem.on(a.ctypes.data)), (_DST, m)])
        return m

    def target(self, out, keep):
        """A handle the primitive writes ``out`` through; call ``finish(out)`` afterwards."""
        if self.same:
            return self.user_mem.on(out.ctypes.data)
        return self._buffer(keep)

    def finish(self, out):
        if not self.same:
            _execute(self.reorder, [(_SRC, self.mem.h), (_DST, self.user_mem.on(out.ctypes.data))])


def _query(pd, what):
    return _state["lib"]["lib"].dnnl_primitive_desc_query_md(pd, what, 0)


def impl_name(pd):
    """The implementation oneDNN chose for a primitive descriptor (e.g. ``jit:avx512_core``)."""
    s = ctypes.c_char_p()
    _state["lib"]["lib"].dnnl_primitive_desc_query(pd, _Q_IMPL_INFO, 0, ctypes.byref(s))
    return s.value.decode() if s.value else "?"


class ConvPlan:
    """The primitives of one convolution geometry: x (N, C, *in), w (O, C/G, *k) -> (N, O, *out)."""

    def __init__(self, x_shape, w_shape, geom):
        stride, pad_lo, dil, G, out = geom
        k, ins = w_shape[2:], x_shape[2:]
        N, O = x_shape[0], w_shape[0]
        self.x_shape, self.w_shape, self.y_shape = tuple(x_shape), tuple(w_shape), (N, O) + tuple(out)
        # PyTorch's output size floors; oneDNN wants the padding that makes the sizes exact
        pad_hi = [(o - 1) * s + d * (kk - 1) + 1 - n - lo for o, s, d, kk, n, lo in zip(out, stride, dil, k, ins, pad_lo)]
        wdims = ((G, O // G) + tuple(w_shape[1:])) if G > 1 else tuple(w_shape)
        self.user = {"x": _Desc(x_shape, True), "w": _Desc(wdims, True), "y": _Desc(self.y_shape, True),
                     "b": _Desc((O,), True)}
        self.any = {"x": _Desc(x_shape, False), "w": _Desc(wdims, False), "y": _Desc(self.y_shape, False)}
        self.geo = (_dims(stride), _dims([d - 1 for d in dil]), _dims(pad_lo), _dims(pad_hi))
        self.b_mem = _Memory(self.user["b"].md)
        self._prims = {}
        self._forward(False)        # fails here (and the plan is not used) if oneDNN refuses the geometry

    def _forward(self, with_bias):
        key = ("forward", with_bias)
        if key not in self._prims:
            L, eng = _state["lib"]["lib"], _state["lib"]["engine"]
            pd = _vp()
            _check(L.dnnl_convolution_forward_primitive_desc_create(
                ctypes.byref(pd), eng, _FORWARD_TRAINING, _CONV_DIRECT, self.any["x"].md, self.any["w"].md,
                self.user["b"].md if with_bias else None, self.any["y"].md, *self.geo, None), "convolution forward")
            self._prims[key] = (_primitive(pd), pd,
                                _Operand(self.user["x"], _query(pd, _Q_SRC), "x", False),
                                _Operand(self.user["w"], _query(pd, _Q_WEIGHTS), "w", False),
                                _Operand(self.user["y"], _query(pd, _Q_DST), "y", True))
        return self._prims[key]

    def _threads(self):
        from ._threads import get_num_threads
        S = _state["lib"]
        if S["omp_threads"] is not None:   # a per-thread setting: set by the thread that runs the primitive
            S["omp_threads"](get_num_threads())

    def forward(self, x, w, b):
        """The output (N, O, *out) of contiguous ``x``, ``w`` and ``b`` (or None)."""
        y = np.empty(self.y_shape, np.float32)
        keep = []
        with _lock:
            self._threads()
            prim, _, ox, ow, oy = self._forward(b is not None)
            args = [(_SRC, ox.bring(x, keep)), (_WEIGHTS, ow.bring(w, keep)), (_DST, oy.target(y, keep))]
            if b is not None:
                args.append((_BIAS, self.b_mem.on(b.ctypes.data)))
            _execute(prim, args)
            oy.finish(y)
        return y

    def _backward_data(self):
        if "data" not in self._prims:
            L, eng = _state["lib"]["lib"], _state["lib"]["engine"]
            pd = _vp()
            _check(L.dnnl_convolution_backward_data_primitive_desc_create(
                ctypes.byref(pd), eng, _CONV_DIRECT, self.any["x"].md, self.any["w"].md, self.any["y"].md,
                *self.geo, self._forward(False)[1], None), "convolution backward data")
            self._prims["data"] = (_primitive(pd), pd,
                                 _Operand(self.user["y"], _query(pd, _Q_DIFF_DST), "gy", False),
                                 _Operand(self.user["w"], _query(pd, _Q_WEIGHTS), "w_bd", False),
                                 _Operand(self.user["x"], _query(pd, _Q_DIFF_SRC), "gx", True))
        return self._prims["data"]

    def _backward_weights(self, with_bias):
        key = ("weights", with_bias)
        if key not in self._prims:
            L, eng = _state["lib"]["lib"], _state["lib"]["engine"]
            pd = _vp()
            _check(L.dnnl_convolution_backward_weights_primitive_desc_create(
                ctypes.byref(pd), eng, _CONV_DIRECT, self.any["x"].md, self.any["w"].md,
                self.user["b"].md if with_bias else None, self.any["y"].md, *self.geo, self._forward(False)[1], None),
                "convolution backward weights")
            self._prims[key] = (_primitive(pd), pd,
                              _Operand(self.user["x"], _query(pd, _Q_SRC), "x_bw", False),
                              _Operand(self.user["y"], _query(pd, _Q_DIFF_DST), "gy_bw", False),
                              _Operand(self.user["w"], _query(pd, _Q_DIFF_WEIGHTS), "gw", True))
        return self._prims[key]

    def backward_data(self, g, w, keep=None):
        """The input gradient (N, C, *in) of an output gradient ``g`` (N, O, *out), contiguous
        (also a transposed convolution's forward)."""
        gx = np.empty(self.x_shape, np.float32)
        keep = [] if keep is None else keep
        with _lock:
            self._threads()
            prim, _, og, ow, ogx = self._backward_data()
            _execute(prim, [(_DIFF_DST, og.bring(g, keep)), (_WEIGHTS, ow.bring(w, keep)),
                            (_DIFF_SRC, ogx.target(gx, keep))])
            ogx.finish(gx)
        return gx

    def backward_weights(self, x, g, need_b, keep=None, g_as_data=False):
        """The weight gradient (and the bias gradient when ``need_b``, else None) of input ``x``
        and output gradient ``g``, contiguous. ``g_as_data``: ``backward_data`` has just brought
        ``g`` in (same lock, same ``keep``), and its copy is reused when the layouts match."""
        gw = np.empty(self.w_shape, np.float32)
        gb = np.empty(self.y_shape[1], np.float32) if need_b else None
        keep = [] if keep is None else keep
        with _lock:
            self._threads()
            prim, _, ox, og, ogw = self._backward_weights(need_b)
            gh = og.bring_as(self._prims["data"][2], g, keep) if g_as_data else og.bring(g, keep)
            args = [(_SRC, ox.bring(x, keep)), (_DIFF_DST, gh), (_DIFF_WEIGHTS, ogw.target(gw, keep))]
            if need_b:
                args.append((_DIFF_BIAS, self.b_mem.on(gb.ctypes.data)))
            _execute(prim, args)
            ogw.finish(gw)
        return gw, gb

    def backward(self, x, w, g, need_x, need_w, need_b):
        """(gx, gw, gb) of a convolution, None where not asked for; all arrays contiguous."""
        gx = gw = gb = None
        keep = []
        with _lock:
            if need_x:
                gx = self.backward_data(g, w, keep)
            if need_w:
                gw, gb = self.backward_weights(x, g, need_b, keep, g_as_data=need_x)
        return gx, gw, gb


_plans: dict = {}


def conv_plan(x_shape, w_shape, geom):
    """The cached plan for this geometry, or None when oneDNN is unavailable or refuses it."""
    if _state["forked"]:
        return None
    key = (x_shape, w_shape, geom)
    plan = _plans.get(key, 0)
    if plan == 0:
        plan = None
        if available():
            with _lock:
                try:
                    plan = ConvPlan(x_shape, w_shape, geom)
                except _OneDNNError:
                    plan = None
        _plans[key] = plan
    return plan
