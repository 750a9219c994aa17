"""``save``/``load``: checkpoints in the safetensors format (no pickle, no code execution).

A flat ``{name: tensor}`` dict (a model's ``state_dict``) is stored as exactly those tensors,
so files are interchangeable with ``safetensors.torch.save_file``/``load_file``. Anything
nested (an optimizer's state dict, a training checkpoint with epochs and metrics) is
flattened: tensors get dotted keys, and the structure with its plain values (numbers,
strings, bools, None, lists) is kept as JSON in the file's metadata.

Writes are atomic: the file is written next to its destination and renamed into place.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ._tensor import Tensor, _wrap

_STRUCT_KEY = "__flambeau_structure__"
_ORDER_KEY = "__flambeau_key_order__"  # a flat state dict's key order (safetensors sorts its entries)


def _contiguous(a):
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    return a if a.flags.c_contiguous else a.copy(order="C")


def _safetensors():
    try:
        from safetensors import numpy as stnp
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("flambeau.save/load need the 'safetensors' package: pip install 'flambeau[io]' "
                          "(or pip install safetensors)") from None
    return stnp


def _encode(obj, prefix, tensors):
    """Replace tensors by {"__tensor__": key}; collect them into ``tensors``."""
    if isinstance(obj, Tensor):
        key = prefix or "tensor"
        if key in tensors:
            raise ValueError(f"flambeau.save: two tensors map to the key {key!r}")
        tensors[key] = _contiguous(obj._data)
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return _encode(_wrap(obj), prefix, tensors)
    if isinstance(obj, dict):
        out = {}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"flambeau.save: dict keys must be str or int, got {type(k).__name__}")
            items.append([k, _encode(v, f"{prefix}.{k}" if prefix else str(k), tensors)])
        out["__dict__"] = items
        return out
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__":
                [_encode(v, f"{prefix}.{i}" if prefix else str(i), tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"flambeau.save: cannot store an object of type {type(obj).__name__}; only tensors, "
                    "numbers, strings, None and (nested) dicts/lists/tuples of them are supported")


def _decode(node, tensors):
    if isinstance(node, dict):
        if "__tensor__" in node:
            return _wrap(tensors[node["__tensor__"]])
        if "__dict__" in node:
            return {k: _decode(v, tensors) for k, v in node["__dict__"]}
        if "__list__" in node:
            return [_decode(v, tensors) for v in node["__list__"]]
        if "__tuple__" in node:
            return tuple(_decode(v, tensors) for v in node["__tuple__"])
        raise ValueError("flambeau.load: malformed structure metadata")
    return node


def _is_flat_state_dict(obj):
    return isinstance(obj, dict) and obj and all(isinstance(k, str) and isinstance(v, Tensor)
                                                 for k, v in obj.items())


def save(obj, f, *args, **kwargs):
    """Save tensors / nested containers of tensors and plain values to the path ``f``."""
    stnp = _safetensors()
    path = os.fspath(f)
    tensors = {}
    metadata = {}
    if _is_flat_state_dict(obj):
        tensors = {k: _contiguous(v._data) for k, v in obj.items()}
        metadata[_ORDER_KEY] = json.dumps(list(obj))
    else:
        metadata[_STRUCT_KEY] = json.dumps(_encode(obj, "", tensors))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    os.close(fd)
    try:
        data = stnp.save(tensors, metadata=metadata or None)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(f, map_location=None, weights_only=True, **kwargs):
    """Load what :func:`save` wrote (or any safetensors file, as a ``{name: tensor}`` dict)."""
    stnp = _safetensors()
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"flambeau.load: no such file: {path}")
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        tensors = stnp.load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + header_len])
    except Exception as e:  # safetensors raises its own error types
        raise RuntimeError(f"flambeau.load: {path} is not a valid safetensors file ({e})") from None
    meta = header.get("__metadata__") or {}
    # arrays from safetensors are read-only views of the file buffer: own writable copies
    tensors = {k: np.array(v) for k, v in tensors.items()}
    if _STRUCT_KEY in meta:
        try:
            return _decode(json.loads(meta[_STRUCT_KEY]), tensors)
        except (KeyError, ValueError, TypeError) as e:
            raise RuntimeError(f"flambeau.load: {path} has malformed structure metadata ({e})") from None
    # a flat state dict comes back in the order it was saved (PyTorch returns an OrderedDict):
    # the recorded order, else the order of the file's header
    order = [k for k in header if k != "__metadata__"]
    if _ORDER_KEY in meta:
        try:
            saved = json.loads(meta[_ORDER_KEY])
        except ValueError:
            saved = None
        if isinstance(saved, list) and sorted(saved) == sorted(tensors):
            order = saved
    if sorted(order) != sorted(tensors):
        order = list(tensors)
    return {k: _wrap(tensors[k]) for k in order}
