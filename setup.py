"""Builds featbench's compiled parts: the timed loop (src/featbench/backends/_timedloop.c)
and the generator's inner loops (src/featbench/_generate.c).

Plain C loaded with ctypes (featbench/clib.py), no Python API. Optional: without a C
compiler the build goes on and featbench uses its Python/numpy paths, which give the
same values (the run's manifest says which timed path ran). Everything else is in
pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "featbench.backends._timedloop",
            sources=["src/featbench/backends/_timedloop.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "featbench._generate",
            sources=["src/featbench/_generate.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
