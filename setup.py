"""Builds featbench's one compiled part, the timed loop (src/featbench/backends/_timedloop.c).

Plain C loaded with ctypes, no Python API. Optional: without a C compiler the build
goes on and featbench times requests through its Python path (the manifest says which).
Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "featbench.backends._timedloop",
            sources=["src/featbench/backends/_timedloop.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
