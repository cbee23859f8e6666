"""Benchmarks of the RevSeg engine (torch-only imports, so they run on a bare GPU machine)."""
