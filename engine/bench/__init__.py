"""Benchmarks of the RevSeg engine. The inference and memory benchmarks import torch only, so they run on a bare
GPU machine; ``native_study`` (the time-to-result studies) needs nibabel, SciPy and SimpleITK as well."""
