"""Deterministic Numba tools: indicators, risk kernels, simulation, sizing, strategies.

Kernels take NumPy arrays and scalars only (no pydantic, no I/O, no LLM) and import
nothing but ``core`` and NumPy/Numba; thin typed Python wrappers validate arguments.
"""
