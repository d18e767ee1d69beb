"""The one compiled part: the side models' per-bit loop (mdlzip/coding/adaptive/_side.c).

Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mdlzip.coding.adaptive._side",
            ["mdlzip/coding/adaptive/_side.c"],
            extra_compile_args=["-O2", "-std=c99", "-fno-fast-math"],
        )
    ]
)
