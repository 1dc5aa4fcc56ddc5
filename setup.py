"""Builds the Cython extensions; all metadata lives in pyproject.toml.

OpenMP is used when the compiler accepts -fopenmp; otherwise the extensions build
without it and the matcher runs single-threaded loops (a clean fallback, not an error).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_ip", "_prefix", "_match", "_tuples", "_scan", "_columns"]


def _compiler_has_openmp() -> bool:
    if os.environ.get("ADU_FW_NO_OPENMP"):
        return False
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as fh:
            fh.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        try:
            res = subprocess.run(
                cc.split() + ["-fopenmp", src, "-o", os.path.join(tmp, "t")],
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return res.returncode == 0


OPENMP = _compiler_has_openmp()
compile_args = ["-O3"]
link_args = []
if OPENMP:
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")
extra_cflags = os.environ.get("ADU_FW_EXTRA_CFLAGS", "").split()
extra_ldflags = os.environ.get("ADU_FW_EXTRA_LDFLAGS", "").split()

extensions = [
    Extension(
        f"adu_fw.{name}",
        [f"src/adu_fw/{name}.pyx"],
        depends=["src/adu_fw/_simd.h", "src/adu_fw/_lanes.h", "src/adu_fw/_dotted.h"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=compile_args + extra_cflags,
        extra_link_args=link_args + extra_ldflags,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in MODULES
]

print(f"adu-fw: building with OpenMP={'yes' if OPENMP else 'no'}", file=sys.stderr)

# Sanitizer builds never share object files with normal builds (distutils reuses objects by date).
BUILD_BASE = "build-san" if extra_cflags else "build"

setup(
    options={"build": {"build_base": BUILD_BASE}},
    ext_modules=cythonize(
        extensions,
        include_path=["src"],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
