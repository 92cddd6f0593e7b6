"""Pinned CPU kernels, so that a notebook prints the same float32 digits on every x86-64 CPU.

torch picks its vectorized kernels (ATen), its BLAS branch (MKL) and its convolution kernels
(oneDNN) by the instruction sets of the CPU it runs on. AVX-512 kernels sum in another order
than AVX2 kernels, so float32 results differ in the last bits between, say, an Intel AVX2 and an
AMD AVX-512 machine, and GAN training or a likelihood ascent amplifies those bits into printed
digits: nbval, which compares printed numbers, then fails on one CPU and passes on another.
Pinning all three to AVX2 (which every x86-64 CPU of the last decade has; MKL's conditional
numerical reproducibility, ``MKL_CBWP``) makes the digits the same, at the same thread count
(``sbp.experiments.notebook.setup`` fixes it). The variables must be in the environment before
torch is first used, so the test command (root ``conftest.py``) and the main job
(``sbp.infra.reproduce``) set them for the kernels they start. Without them the numbers are as
accurate, only not bit-identical across CPUs. On other architectures nothing is set.

    python -m sbp.infra.cpu_kernels jupyter nbconvert --to notebook --execute --inplace notebooks/NN.ipynb
"""
from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping

__all__ = ["PINNED", "pin_cpu_kernels"]

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWP": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pin_cpu_kernels(environ: MutableMapping[str, str] | None = None, machine: str | None = None) -> dict[str, str]:
    """Set ``PINNED`` in ``environ`` (default ``os.environ``) where not set already, on x86-64 only.

    Returns the variables in force afterwards (empty on other architectures). A value the user set
    is kept: ``ATEN_CPU_CAPABILITY=avx512`` still selects AVX-512 kernels.
    """
    environ = os.environ if environ is None else environ
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return {}
    for key, value in PINNED.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in PINNED}


def main(argv: list[str] | None = None) -> int:
    """Run a command with the pinned kernels (``python -m sbp.infra.cpu_kernels CMD ...``)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python -m sbp.infra.cpu_kernels COMMAND [ARGS ...]", file=sys.stderr)
        return 2
    pin_cpu_kernels()
    os.execvp(argv[0], argv)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
