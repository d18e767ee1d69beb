"""Benchmarks: mdlzip beside the classic compressors, every size round-trip verified.

Run ``python -m benchmarks.run --help``; see benchmarks/README.md.
"""
