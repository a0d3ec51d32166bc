"""Benchmarks of geouic: quality on real scenes, speed and memory (see ``README.md`` here).

A package so that the scripts share helpers (:mod:`benchmarks._bench`) and the tests import
them without touching ``sys.path``; run the scripts from the repository root as modules,
e.g. ``python -m benchmarks.quality --report-only``. geouic is imported as installed.
"""
