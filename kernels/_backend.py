"""Choosing between the Triton kernels and their torch references.

``backend`` is one of:

- ``"auto"`` (default): the Triton kernel when the input lives on a CUDA device and Triton imports,
  else the torch reference.
- ``"torch"``: always the torch reference.
- ``"triton"``: always the Triton kernel. CUDA tensors run the compiled kernel. CPU tensors run the
  same kernel source through Triton's interpreter, which needs the process to be started with
  ``TRITON_INTERPRET=1`` (set before ``triton`` is imported; see :func:`interpreter_active`); it is
  slow and meant for tests.

The default can be changed with the environment variable ``WORKBENCH_KERNELS_BACKEND``.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import torch

BACKENDS = ("auto", "torch", "triton")
ENV_VAR = "WORKBENCH_KERNELS_BACKEND"


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when ``import triton`` works (it does not mean a GPU is present)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def resolve_backend(backend: str | None, device: torch.device) -> str:
    """Return ``"torch"`` or ``"triton"`` for a call on tensors living on ``device``."""
    if backend is None:
        backend = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    if backend == "triton":
        if not triton_available():
            raise RuntimeError("backend='triton' was asked for but Triton is not installed")
        return "triton"
    # auto: the compiled kernel on CUDA tensors; never the (slow) interpreter
    if device.type == "cuda" and triton_available() and not interpreter_active():
        return "triton"
    return "torch"


def interpreter_active() -> bool:
    """True when Triton runs kernels in its interpreter in this process.

    Triton 3.x reads ``TRITON_INTERPRET`` when a function is decorated with ``triton.jit``, and the
    standard library it ships (``tl.zeros``, ``tl.sum``...) is decorated when ``triton.language``
    is first imported. So interpretation works only if ``TRITON_INTERPRET=1`` was set before that
    import; we check what the import actually produced instead of the variable.
    """
    if not triton_available():
        return False
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.zeros, InterpretedFunction)


def make_launchers(fn: Callable) -> Callable[[torch.device], object]:
    """Wrap a plain Python kernel function (no decorator) on first use.

    Compiled (``JITFunction``) normally; interpreted (``InterpretedFunction``) when the process runs
    Triton's interpreter (see :func:`interpreter_active`). CPU tensors need the interpreter.
    """
    cache: dict[str, object] = {}

    def get(device: torch.device):
        interp = interpreter_active()
        if device.type != "cuda" and not interp:
            raise RuntimeError(
                "the Triton kernels run on CPU tensors only in Triton's interpreter: start the process with "
                "TRITON_INTERPRET=1 (it must be set before triton is imported), or use backend='torch'"
            )
        mode = "interpreted" if interp else "compiled"
        if mode not in cache:
            if interp:
                from triton.runtime.interpreter import InterpretedFunction

                cache[mode] = InterpretedFunction(fn)
            else:
                from triton.runtime.jit import JITFunction

                cache[mode] = JITFunction(fn)
        return cache[mode]

    return get
