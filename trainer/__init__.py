"""Training tools for RevSeg: synthetic phantom generation and (later) model training.

Sub-packages are imported explicitly (for example ``from trainer.phantoms import generate_phantom``) so that
importing :mod:`trainer` stays cheap.
"""
