"""Triton kernels with torch references, importable as workbench.kernels."""
