"""The compiled parts: the side models (mdlzip/coding/adaptive/cm/, glued by _side.c) and the
integer engine (mdlzip/model/engine/).

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
                "mdlzip/coding/adaptive/cm/predictor_state.c",
                "mdlzip/coding/adaptive/cm/state_table.c",
                "mdlzip/coding/adaptive/cm/maps.c",
                "mdlzip/coding/adaptive/cm/mixer.c",
                "mdlzip/coding/adaptive/cm/table_alloc.c",
            ],
            depends=[
                "mdlzip/coding/adaptive/cm/" + h
                for h in ("bit_coder.h", "common.h", "context_map.h", "history.h", "image_model.h", "maps.h", "match_model.h", "mixer.h",
                          "predictor.h", "predictor_layout.h", "state_table.h", "structure_model.h", "table_alloc.h", "text_model.h", "x86_model.h")
            ],
            # Integer code only; -O3 vectorizes the mixers' integer dot products, which changes no result.
            # Threads only give the tables their memory (table_alloc.c).
            extra_compile_args=["-O3", "-std=c99", "-fno-fast-math", "-pthread"],
            extra_link_args=["-pthread"],
        ),
        Extension(
            "mdlzip.model._engine",
            ["mdlzip/model/engine/engine.c", "mdlzip/model/engine/forward.c", "mdlzip/model/engine/pool.c"],
            depends=[f"mdlzip/model/engine/{h}.h" for h in ("model", "forward", "forward_isa", "forward_step", "pool")],
            # -O3 vectorizes the integer loops; integers, so no flag can change a result.
            extra_compile_args=["-O3", "-std=gnu99", "-fno-fast-math", "-pthread"],
            extra_link_args=["-pthread"],
        ),
    ]
)
