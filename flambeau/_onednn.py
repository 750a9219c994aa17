"""Convolutions through oneDNN, when it is installed (``pip install 'flambeau[onednn]'``).

oneDNN is the CPU library of deep-learning primitives that PyTorch itself runs its CPU
convolutions on. flambeau's own convolution (``ops/conv.py``: im2col and one GEMM in NumPy's
BLAS) is the reference and always available; when oneDNN is importable and
``flambeau.backends.mkldnn.enabled`` is true (the default, as in PyTorch), float32 convolutions
go through oneDNN instead, and so do transposed convolutions (the adjoint: a transposed
convolution's forward is a convolution's backward-data primitive, its backward that
convolution's forward and weight gradient). Its JIT kernels never materialise the columns and
keep the activations in a channel-blocked layout during the computation, which the BLAS cannot
do: a 64×32×26×26 → 64 channels 3×3 convolution, forward and backward, takes about 14 ms
instead of 28 on two cores.

The bindings are a thin ``ctypes`` layer over oneDNN's C API (v3, opaque memory descriptors).
For each chunk shape of a convolution geometry, :class:`_Prims` creates once the forward,
backward-data and backward-weights primitives with layouts of oneDNN's choosing
(``format_tag any``), and the reorders between flambeau's contiguous NCHW arrays and those
layouts. Nothing else in flambeau depends on it; any failure to load oneDNN or to create a
primitive leaves the convolution to NumPy.

Threads. oneDNN runs *single-threaded* here, on each of flambeau's threads: a
:class:`ConvPlan` cuts the batch into one chunk of samples per thread and runs them on
flambeau's threads, and the weight gradient is the sum of the chunks' partial gradients in chunk
order. The output and the input gradient do not depend on the cut; the weight gradient's
rounding does, so it is run-to-run bit-identical for a given thread count (not across counts,
unlike the NumPy path: more chunks than threads measured 5-10 % slower on two cores). And no
OpenMP team ever starts: oneDNN's OpenMP workers would otherwise spin
between calls and take the cores from flambeau's threads running the batch norms and
activations between two convolutions (a ResNet-20 step beside PyTorch, which starts the
runtime with its default wait policy: 263 ms with two-thread OpenMP teams, 213-219 ms this way),
and a forked child of such a process would hang in its first parallel region.
Each thread has its own stream, memory objects and scratchpad (``scratchpad_mode_user``), so
the threads run primitives concurrently without sharing state.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

import numpy as np

from ._threads import parallel_for, sum_in_order, workers

# oneDNN C API constants (dnnl_types.h, v3)
_CPU, _F32, _ANY = 1, 3, 1                                       # engine kind, data type, format tag
_FORWARD_TRAINING, _CONV_DIRECT, _SCRATCHPAD_USER = 64, 1, 1
_Q_SRC, _Q_DIFF_SRC, _Q_WEIGHTS, _Q_DIFF_WEIGHTS, _Q_DST, _Q_DIFF_DST = 129, 130, 131, 132, 133, 134
_Q_SCRATCHPAD, _Q_IMPL_INFO = 136, 8
_SRC, _DST, _WEIGHTS, _BIAS, _SCRATCHPAD = 1, 17, 33, 41, 80   # DNNL_ARG_*
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS, _DIFF_BIAS = 129, 145, 161, 169
_MAX_NDIMS = 12
_CHUNK_FLOPS = 5e6       # a batch is cut into chunks of at least this much work (one multiply-add: 2)

_vp = ctypes.c_void_p
_Dims = ctypes.c_int64 * _MAX_NDIMS


class _Arg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _vp)]


_lock = threading.RLock()          # creating primitives (executing them needs no lock)
_local = threading.local()         # per thread: its stream
_state = {"lib": None}             # None: not looked for yet; False: unavailable


def _after_fork_in_child():
    global _lock, _local
    _lock, _local = threading.RLock(), threading.local()   # a child starts with a free lock, new streams


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _library_paths():
    """Where the ``onednn-cpu-gomp`` wheel puts the library (``<prefix>/lib``), then the system's."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        yield os.path.join(prefix, "lib", "libdnnl.so.3")
    found = ctypes.util.find_library("dnnl")
    if found:
        yield found


_P = ctypes.POINTER(_vp)
_SIGNATURES = {   # name: (argtypes, restype); every handle is a void pointer
    "dnnl_engine_create": ((_P, ctypes.c_int, ctypes.c_size_t), ctypes.c_int),
    "dnnl_stream_create": ((_P, _vp, ctypes.c_uint), ctypes.c_int),
    "dnnl_stream_wait": ((_vp,), ctypes.c_int),
    "dnnl_primitive_attr_create": ((_P,), ctypes.c_int),
    "dnnl_primitive_attr_set_scratchpad_mode": ((_vp, ctypes.c_int), ctypes.c_int),
    "dnnl_memory_desc_create_with_tag": ((_P, ctypes.c_int, _Dims, ctypes.c_int, ctypes.c_int), ctypes.c_int),
    "dnnl_memory_desc_create_with_strides": ((_P, ctypes.c_int, _Dims, ctypes.c_int, _Dims), ctypes.c_int),
    "dnnl_memory_desc_destroy": ((_vp,), ctypes.c_int),
    "dnnl_memory_desc_equal": ((_vp, _vp), ctypes.c_int),
    "dnnl_memory_desc_get_size": ((_vp,), ctypes.c_size_t),
    "dnnl_memory_create": ((_P, _vp, _vp, _vp), ctypes.c_int),
    "dnnl_memory_set_data_handle": ((_vp, _vp), ctypes.c_int),
    "dnnl_convolution_forward_primitive_desc_create": (
        (_P, _vp, ctypes.c_int, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp), ctypes.c_int),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        (_P, _vp, ctypes.c_int, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp), ctypes.c_int),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        (_P, _vp, ctypes.c_int, _vp, _vp, _vp, _vp, _Dims, _Dims, _Dims, _Dims, _vp, _vp), ctypes.c_int),
    "dnnl_reorder_primitive_desc_create": ((_P, _vp, _vp, _vp, _vp, _vp), ctypes.c_int),
    "dnnl_primitive_desc_query_md": ((_vp, ctypes.c_int, ctypes.c_int), _vp),
    "dnnl_primitive_desc_query": ((_vp, ctypes.c_int, ctypes.c_int, _vp), ctypes.c_int),
    "dnnl_primitive_create": ((_P, _vp), ctypes.c_int),
    "dnnl_primitive_destroy": ((_vp,), ctypes.c_int),
    "dnnl_primitive_desc_destroy": ((_vp,), ctypes.c_int),
    "dnnl_memory_destroy": ((_vp,), ctypes.c_int),
    "dnnl_primitive_execute": ((_vp, _vp, ctypes.c_int, ctypes.POINTER(_Arg)), ctypes.c_int),
}


def _load():
    """The library, its engine and primitive attributes, or False (not installed, not oneDNN v3)."""
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
            for name, (argtypes, restype) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = argtypes, restype
        except (OSError, AttributeError):
            continue
        engine, attr = _vp(), _vp()
        if (lib.dnnl_engine_create(ctypes.byref(engine), _CPU, 0) != 0
                or lib.dnnl_primitive_attr_create(ctypes.byref(attr)) != 0
                or lib.dnnl_primitive_attr_set_scratchpad_mode(attr, _SCRATCHPAD_USER) != 0):
            continue
        try:   # oneDNN's OpenMP runtime, to run it on one thread (see _one_thread)
            gomp = ctypes.CDLL("libgomp.so.1")
            omp = (gomp.omp_get_max_threads, gomp.omp_set_num_threads)
            omp[0].argtypes, omp[0].restype = (), ctypes.c_int
            omp[1].argtypes, omp[1].restype = (ctypes.c_int,), None
        except (OSError, AttributeError):
            omp = None
        return {"lib": lib, "engine": engine, "attr": attr, "omp": omp}
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


def _stream():
    """This thread's stream."""
    s = getattr(_local, "stream", None)
    if s is None:
        S = _state["lib"]
        s = _vp()
        _check(S["lib"].dnnl_stream_create(ctypes.byref(s), S["engine"], 1), "stream")
        _local.stream = s
    return s


class _one_thread:
    """``with _one_thread():`` OpenMP's thread count for this thread is 1 inside (oneDNN reads it
    when it creates a primitive, which then runs on that many threads), and what it was after:
    a PyTorch in the same process reads the same per-thread setting for its own threads."""

    def __enter__(self):
        omp = _state["lib"]["omp"]
        self.n = omp[0]() if omp else None
        if omp and self.n != 1:
            omp[1](1)

    def __exit__(self, *exc):
        if self.n is not None and self.n != 1:
            _state["lib"]["omp"][1](self.n)


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
    """Memory objects over one descriptor, one per thread; the data pointer is set at each use."""

    def __init__(self, md):
        self.L, self.md, self._handles = _state["lib"]["lib"], md, {}     # thread ident -> handle

    def on(self, ptr):
        S = _state["lib"]
        h = self._handles.get(threading.get_ident())
        if h is None:
            h = _vp()
            _check(S["lib"].dnnl_memory_create(ctypes.byref(h), self.md, S["engine"], None), "memory")
            self._handles[threading.get_ident()] = h
        _check(S["lib"].dnnl_memory_set_data_handle(h, ptr), "memory handle")
        return h

    def __del__(self):
        for h in self._handles.values():
            self.L.dnnl_memory_destroy(h)


class _Primitive:
    """A primitive with its descriptor and, when it needs one, a per-thread scratchpad."""

    def __init__(self, pd):
        L = self.L = _state["lib"]["lib"]
        self.pd, self.h = pd, _vp()
        _check(L.dnnl_primitive_create(ctypes.byref(self.h), pd), "primitive")
        sp = L.dnnl_primitive_desc_query_md(pd, _Q_SCRATCHPAD, 0)
        self.sp_bytes = int(L.dnnl_memory_desc_get_size(sp)) if sp else 0
        self.sp_mem = _Memory(sp) if self.sp_bytes else None

    def run(self, args, call):
        """Execute on this thread's stream; ``call`` keeps the scratchpad alive until it is done."""
        S = _state["lib"]
        if self.sp_bytes:
            args = args + [(_SCRATCHPAD, self.sp_mem.on(call.buffer("scratchpad", self.sp_bytes)))]
        arr = (_Arg * len(args))(*[_Arg(a, m) for a, m in args])
        stream = _stream()
        with _one_thread():
            _check(S["lib"].dnnl_primitive_execute(self.h, stream, len(args), arr), "execute")
            _check(S["lib"].dnnl_stream_wait(stream), "stream wait")

    def md(self, what):
        return _state["lib"]["lib"].dnnl_primitive_desc_query_md(self.pd, what, 0)

    def __del__(self):
        if self.h:
            self.L.dnnl_primitive_destroy(self.h)
        self.L.dnnl_primitive_desc_destroy(self.pd)


def _create(fn, *args, what):
    pd = _vp()
    _check(fn(ctypes.byref(pd), *args), what)
    return _Primitive(pd)


class _Call:
    """One thread's execution of one primitive with its reorders: the scratch buffers it uses
    (held until it is done: a buffer too large for the scratch cache is the call's alone) and
    where each operand's reordered copy is."""

    def __init__(self):
        self.bufs, self.where = [], {}

    def buffer(self, role, nbytes):
        from .ops._buffers import scratch
        buf = scratch(("onednn", role), (nbytes,), np.uint8)
        self.bufs.append(buf)
        return buf.ctypes.data


class _Operand:
    """One argument of a primitive: the user's contiguous array (``user`` descriptor) and the
    layout the primitive wants (``md``, owned by its primitive descriptor). When they differ, a
    reorder copies between them through a scratch buffer."""

    def __init__(self, user, md, role, to_user):
        L = _state["lib"]["lib"]
        self.role, self.user_mem, self.md = role, _Memory(user.md), md
        self.same = bool(L.dnnl_memory_desc_equal(user.md, md))
        if not self.same:
            self.nbytes = int(L.dnnl_memory_desc_get_size(md))
            self.mem = _Memory(md)
            src, dst = (md, user.md) if to_user else (user.md, md)
            eng = _state["lib"]["engine"]
            self.reorder = _create(L.dnnl_reorder_primitive_desc_create, src, eng, dst, eng, _state["lib"]["attr"],
                                   what="reorder")

    def _copy(self, call):
        ptr = call.where[self] = call.buffer(self.role, self.nbytes)
        return self.mem.on(ptr)

    def bring(self, a, call, like=None):
        """The memory handle of ``a`` in the primitive's layout (reordered in when needed). With
        ``like``, an operand of another primitive that brought ``a`` in earlier in ``call``, its
        copy is reused when both want the same layout."""
        if self.same:
            return self.user_mem.on(a.ctypes.data)
        if like is not None and like in call.where and not like.same and \
                _state["lib"]["lib"].dnnl_memory_desc_equal(self.md, like.md):
            return self.mem.on(call.where[like])
        m = self._copy(call)
        self.reorder.run([(_SRC, self.user_mem.on(a.ctypes.data)), (_DST, m)], call)
        return m

    def target(self, out, call):
        """A handle the primitive writes ``out`` through; call ``finish`` afterwards."""
        return self.user_mem.on(out.ctypes.data) if self.same else self._copy(call)

    def finish(self, out, call):
        if not self.same:
            self.reorder.run([(_SRC, self.mem.on(call.where[self])), (_DST, self.user_mem.on(out.ctypes.data))], call)


def impl_name(prim):
    """The implementation oneDNN chose for a primitive (e.g. ``jit:avx512_core``)."""
    s = ctypes.c_char_p()
    _state["lib"]["lib"].dnnl_primitive_desc_query(prim.pd, _Q_IMPL_INFO, 0, ctypes.byref(s))
    return s.value.decode() if s.value else "?"


class _Prims:
    """The primitives of one convolution geometry and batch size (one chunk of a batch):
    x (m, C, *in), w (O, C/G, *k) -> (m, O, *out). The backward ones are made on first use."""

    def __init__(self, x_shape, w_shape, geom):
        stride, pad_lo, dil, G, out = geom
        k, ins = w_shape[2:], x_shape[2:]
        O = w_shape[0]
        y_shape = (x_shape[0], O) + tuple(out)
        # PyTorch's output size floors; oneDNN wants the padding that makes the sizes exact
        pad_hi = [(o - 1) * s + d * (kk - 1) + 1 - n - lo for o, s, d, kk, n, lo in zip(out, stride, dil, k, ins, pad_lo)]
        wdims = ((G, O // G) + tuple(w_shape[1:])) if G > 1 else tuple(w_shape)
        self.user = {"x": _Desc(x_shape, True), "w": _Desc(wdims, True), "y": _Desc(y_shape, True),
                     "b": _Desc((O,), True)}
        self.any = {"x": _Desc(x_shape, False), "w": _Desc(wdims, False), "y": _Desc(y_shape, False)}
        self.geo = (_dims(stride), _dims([d - 1 for d in dil]), _dims(pad_lo), _dims(pad_hi))
        self.b_mem = _Memory(self.user["b"].md)
        self._made = {}
        self.forward_prims(False)      # fails here (and the plan is not used) if oneDNN refuses the geometry

    def _get(self, key, make):
        if key not in self._made:
            with _lock, _one_thread():
                if key not in self._made:
                    self._made[key] = make()
        return self._made[key]

    def forward_prims(self, with_bias):
        def make():
            S = _state["lib"]
            p = _create(S["lib"].dnnl_convolution_forward_primitive_desc_create, S["engine"], _FORWARD_TRAINING,
                        _CONV_DIRECT, self.any["x"].md, self.any["w"].md, self.user["b"].md if with_bias else None,
                        self.any["y"].md, *self.geo, S["attr"], what="convolution forward")
            return (p, _Operand(self.user["x"], p.md(_Q_SRC), "x", False),
                    _Operand(self.user["w"], p.md(_Q_WEIGHTS), "w", False),
                    _Operand(self.user["y"], p.md(_Q_DST), "y", True))
        return self._get(("forward", with_bias), make)

    def data_prims(self):
        def make():
            S = _state["lib"]
            p = _create(S["lib"].dnnl_convolution_backward_data_primitive_desc_create, S["engine"], _CONV_DIRECT,
                        self.any["x"].md, self.any["w"].md, self.any["y"].md, *self.geo,
                        self.forward_prims(False)[0].pd, S["attr"], what="convolution backward data")
            return (p, _Operand(self.user["y"], p.md(_Q_DIFF_DST), "gy", False),
                    _Operand(self.user["w"], p.md(_Q_WEIGHTS), "w_bd", False),
                    _Operand(self.user["x"], p.md(_Q_DIFF_SRC), "gx", True))
        return self._get("data", make)

    def weights_prims(self, with_bias):
        def make():
            S = _state["lib"]
            p = _create(S["lib"].dnnl_convolution_backward_weights_primitive_desc_create, S["engine"], _CONV_DIRECT,
                        self.any["x"].md, self.any["w"].md, self.user["b"].md if with_bias else None,
                        self.any["y"].md, *self.geo, self.forward_prims(False)[0].pd, S["attr"],
                        what="convolution backward weights")
            return (p, _Operand(self.user["x"], p.md(_Q_SRC), "x_bw", False),
                    _Operand(self.user["y"], p.md(_Q_DIFF_DST), "gy_bw", False),
                    _Operand(self.user["w"], p.md(_Q_DIFF_WEIGHTS), "gw", True))
        return self._get(("weights", with_bias), make)

    # each method below runs on the calling thread, on contiguous arrays, writing into ``out``
    def forward(self, x, w, b, y):
        call = _Call()
        p, ox, ow, oy = self.forward_prims(b is not None)
        args = [(_SRC, ox.bring(x, call)), (_WEIGHTS, ow.bring(w, call)), (_DST, oy.target(y, call))]
        if b is not None:
            args.append((_BIAS, self.b_mem.on(b.ctypes.data)))
        p.run(args, call)
        oy.finish(y, call)

    def backward_data(self, g, w, gx, call=None):
        call = call or _Call()
        p, og, ow, ogx = self.data_prims()
        p.run([(_DIFF_DST, og.bring(g, call)), (_WEIGHTS, ow.bring(w, call)), (_DIFF_SRC, ogx.target(gx, call))],
              call)
        ogx.finish(gx, call)

    def backward_weights(self, x, g, gw, gb, call=None):
        """``gb`` (an array, or None for no bias gradient) is written along with ``gw``. With the
        ``call`` of a ``backward_data`` on the same ``g``, its copy of ``g`` is reused."""
        call = call or _Call()
        p, ox, og, ogw = self.weights_prims(gb is not None)
        like = self.data_prims()[1] if "data" in self._made else None
        args = [(_SRC, ox.bring(x, call)), (_DIFF_DST, og.bring(g, call, like)), (_DIFF_WEIGHTS, ogw.target(gw, call))]
        if gb is not None:
            args.append((_DIFF_BIAS, self.b_mem.on(gb.ctypes.data)))
        p.run(args, call)
        ogw.finish(gw, call)


class ConvPlan:
    """A convolution geometry on a whole batch: x (N, C, *in), w (O, C/G, *k) -> (N, O, *out),
    as chunks of samples shared among flambeau's threads, oneDNN single-threaded on each."""

    def __init__(self, x_shape, w_shape, geom):
        N, O, out = x_shape[0], w_shape[0], geom[4]
        self.x_shape, self.w_shape, self.y_shape, self.geom = tuple(x_shape), tuple(w_shape), (N, O) + tuple(out), geom
        self.flops = 2.0 * N * O * int(np.prod(w_shape[1:])) * int(np.prod(out))
        self._prims = {}
        self._chunk(N)                   # fails here (and the plan is not used) if oneDNN refuses the geometry

    def _chunk(self, m):
        if m not in self._prims:
            self._prims[m] = _Prims((m,) + self.x_shape[1:], self.w_shape, self.geom)
        return self._prims[m]

    def _parts(self):
        """The batch cut into one chunk per thread (fewer when the work is small): from sizes and
        the thread count, so that the weight gradient's sum is the same for a given thread count."""
        N = self.x_shape[0]
        k = int(max(1, min(workers(), N, self.flops // _CHUNK_FLOPS)))
        edges = [N * i // k for i in range(k + 1)]
        parts = [(edges[i], edges[i + 1] - edges[i]) for i in range(k)]
        with _lock:
            return parts, [self._chunk(m) for _, m in parts]

    def forward(self, x, w, b):
        """The output (N, O, *out) of contiguous ``x``, ``w`` and ``b`` (or None)."""
        y = np.empty(self.y_shape, np.float32)
        parts, prims = self._parts()

        def chunk(i):
            n0, m = parts[i]
            prims[i].forward(x[n0:n0 + m], w, b, y[n0:n0 + m])
        parallel_for(chunk, len(parts))
        return y

    def backward_data(self, g, w):
        """The input gradient (N, C, *in) of an output gradient ``g`` (N, O, *out), contiguous
        (also a transposed convolution's forward)."""
        return self.backward(None, w, g, True, False, False)[0]

    def backward_weights(self, x, g, need_b):
        """The weight gradient, and the bias gradient when ``need_b`` (else None)."""
        return self.backward(x, None, g, False, True, need_b)[1:]

    def backward(self, x, w, g, need_x, need_w, need_b):
        """(gx, gw, gb) of a convolution, None where not asked for; all arrays contiguous. The
        weight and bias gradients are the sums of the chunks' in chunk order."""
        gx = np.empty(self.x_shape, np.float32) if need_x else None
        parts, prims = self._parts()
        k = len(parts)
        gws = [np.empty(self.w_shape, np.float32) for _ in range(k)] if need_w else None
        gbs = [np.empty(self.y_shape[1], np.float32) for _ in range(k)] if need_w and need_b else None

        def chunk(i):
            n0, m = parts[i]
            call = _Call()
            if need_x:
                prims[i].backward_data(g[n0:n0 + m], w, gx[n0:n0 + m], call)
            if need_w:
                prims[i].backward_weights(x[n0:n0 + m], g[n0:n0 + m], gws[i], gbs[i] if gbs else None, call)
        parallel_for(chunk, k)
        gw = sum_in_order(gws, self.w_shape, np.float32) if need_w else None
        gb = sum_in_order(gbs, self.y_shape[1:2], np.float32) if gbs else None
        return gx, gw, gb


_plans: dict = {}
_MAX_PLANS = 512         # geometries kept (inputs of ever new sizes would otherwise pile up primitives)


def conv_plan(x_shape, w_shape, geom):
    """The cached plan for this geometry, or None when oneDNN is unavailable or refuses it."""
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
                while len(_plans) >= _MAX_PLANS:
                    _plans.pop(next(iter(_plans)))       # the oldest; made again if it comes back
        _plans[key] = plan
    return plan
