"""Choosing between the Triton kernels and their torch references.

``backend`` is one of:

- ``"auto"`` (default): the Triton kernel when the input lives on a CUDA device and Triton imports,
  else the torch reference.
- ``"torch"``: always the torch reference.
- ``"triton"``: always the Triton kernel. CUDA tensors run the compiled kernel; CPU tensors run the
  same kernel source through Triton's interpreter (what ``TRITON_INTERPRET=1`` does), which is slow
  and meant for tests.

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
    # auto
    if device.type == "cuda" and triton_available():
        return "triton"
    return "torch"


def interpret_requested() -> bool:
    """True when the process was started with ``TRITON_INTERPRET=1`` (read as Triton reads it)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def make_launchers(fn: Callable) -> Callable[[torch.device], object]:
    """Wrap a plain Python kernel function for both execution modes.

    Triton decides at decoration time (``triton.jit``) whether a kernel is compiled or interpreted,
    from ``TRITON_INTERPRET``. We keep the undecorated function and build both wrappers lazily:
    the compiled one for CUDA tensors (unless ``TRITON_INTERPRET=1``, in which case ``triton.jit``
    itself returns an interpreted function), and an explicit ``InterpretedFunction`` for CPU tensors,
    so that CPU callers need not set a process-wide environment variable.
    """
    cache: dict[str, object] = {}

    def get(device: torch.device):
        mode = "compiled" if device.type == "cuda" else "interpreted"
        if mode not in cache:
            if mode == "compiled":
                import triton

                cache[mode] = triton.jit(fn)
            else:
                from triton.runtime.interpreter import InterpretedFunction

                cache[mode] = InterpretedFunction(fn)
        return cache[mode]

    return get
