"""Run a PyTorch program on flambeau, unchanged: ``python -m flambeau.compat SCRIPT.py [ARGS…]``.

While the script runs, ``import torch`` (and ``torch.nn``, ``torch.nn.functional``,
``torch.optim``, ``torch.utils.data``, ``torch.autograd`` …) resolves to flambeau, and
``torchvision`` (``datasets``, ``transforms``, ``utils``, ``models``) to ``flambeau.vision``.
When the script uses something flambeau does not implement, it stops with one line:

    flambeau does not implement torch.X (used at script.py:LINE)
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import re
import runpy
import sys
import traceback

# PyTorch module prefix -> flambeau module (longest prefix wins)
ALIASES = {
    "torch": "flambeau",
    "torchvision": "flambeau.vision",
}


def _target(fullname):
    for src in sorted(ALIASES, key=len, reverse=True):
        if fullname == src or fullname.startswith(src + "."):
            return ALIASES[src] + fullname[len(src):]
    return None


class NotImplementedInFlambeau(ImportError):
    pass


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        try:
            return importlib.import_module(self.real)
        except ModuleNotFoundError as e:
            if e.name and (e.name == self.real or self.real.startswith(e.name + ".")):
                raise NotImplementedInFlambeau(f"flambeau does not implement {spec.name}") from None
            raise

    def exec_module(self, module):
        pass  # the flambeau module is already initialised


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        real = _target(fullname)
        if real is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


_FINDER = _AliasFinder()


def install():
    """Make ``torch``/``torchvision`` imports resolve to flambeau (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for name in list(sys.modules):
        if _target(name) is not None and not sys.modules[name].__name__.startswith("flambeau"):
            raise RuntimeError(f"the real {name} is already imported; start a fresh interpreter")


def uninstall():
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in list(sys.modules):
        if _target(name) is not None and getattr(sys.modules[name], "__name__", "").startswith("flambeau"):
            del sys.modules[name]


_REVERSE = sorted(((v, k) for k, v in ALIASES.items()), key=lambda kv: len(kv[0]), reverse=True)


def _torch_name(flambeau_name):
    for real, src in _REVERSE:
        if flambeau_name == real or flambeau_name.startswith(real + "."):
            return src + flambeau_name[len(real):]
    return flambeau_name


def _user_frame(tb, script):
    """The innermost traceback frame inside the user's script (file:line)."""
    where = None
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename) == script:
            where = f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return where


def run(script, argv=()):
    """Run ``script`` as ``__main__`` with torch resolved to flambeau; return an exit status."""
    script = os.path.abspath(script)
    if not os.path.exists(script):
        print(f"flambeau run: no such script: {script}", file=sys.stderr)
        return 2
    install()
    old_argv = sys.argv
    sys.argv = [script, *argv]
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except NotImplementedInFlambeau as e:
        where = _user_frame(e.__traceback__, script)
        print(f"{e}" + (f" (used at {where})" if where else ""), file=sys.stderr)
        return 1
    except AttributeError as e:
        m = re.match(r"module '([\w.]+)' has no attribute '(\w+)'", str(e))
        if m and m.group(1).startswith("flambeau"):
            where = _user_frame(e.__traceback__, script)
            print(f"flambeau does not implement {_torch_name(m.group(1))}.{m.group(2)}"
                  + (f" (used at {where})" if where else ""), file=sys.stderr)
            return 1
        raise
    finally:
        sys.argv = old_argv
        if sys.path and sys.path[0] == os.path.dirname(script):
            sys.path.pop(0)
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
