"""Builds the Cython kernels in ``ext/``; everything else is declared in pyproject.toml."""

from __future__ import annotations

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["driftline.ext._histogram", "driftline.ext._kafka", "driftline.ext._cusum", "driftline.ext._rows"]

setup(
    ext_modules=cythonize(
        [
            Extension(name, [name.replace(".", "/") + ".pyx"], include_dirs=[numpy.get_include()],
                      extra_compile_args=["-O3"],
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
            for name in KERNELS
        ],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False,
                             "cdivision": True, "initializedcheck": False},
    ),
)
