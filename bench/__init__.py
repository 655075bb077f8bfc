"""Benchmarks: each compares alphadag against a baseline measured in the same run."""
