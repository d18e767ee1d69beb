"""The one compiled part: the side models (mdlzip/coding/adaptive/cm/, glued by _side.c).

Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mdlzip.coding.adaptive._side",
            [
                "mdlzip/coding/adaptive/_side.c",
                "mdlzip/coding/adaptive/cm/predictor.c",
                "mdlzip/coding/adaptive/cm/state_table.c",
                "mdlzip/coding/adaptive/cm/mixer.c",
            ],
            depends=[
                "mdlzip/coding/adaptive/cm/" + h
                for h in ("bit_coder.h", "common.h", "context_map.h", "history.h", "maps.h", "match_model.h", "mixer.h",
                          "predictor.h", "state_table.h", "structure_model.h", "text_model.h")
            ],
            # Integer code only; -O3 vectorizes the mixers' integer dot products, which changes no result.
            extra_compile_args=["-O3", "-std=c99", "-fno-fast-math"],
        )
    ]
)
