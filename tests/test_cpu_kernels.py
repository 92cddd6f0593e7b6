"""Pinned CPU kernels (sbp.infra.cpu_kernels): the same float32 digits on every x86-64 CPU."""
import os
import platform
import subprocess
import sys

import pytest

from sbp.infra.cpu_kernels import PINNED, main, pin_cpu_kernels

X86 = platform.machine().lower() in ("x86_64", "amd64")


def test_pin_sets_every_variable_on_x86_and_keeps_the_users_choice():
    env = {"MKL_CBWP": "COMPATIBLE"}
    got = pin_cpu_kernels(env, machine="x86_64")
    assert got == {**PINNED, "MKL_CBWP": "COMPATIBLE"} == env


def test_pin_sets_nothing_on_other_architectures():
    env = {}
    assert pin_cpu_kernels(env, machine="aarch64") == {} and env == {}


@pytest.mark.skipif(not X86, reason="the pinned kernels are x86-64 instruction sets")
def test_the_test_command_pins_the_kernels_that_nbval_starts():
    # conftest.py pins os.environ, which nbval's kernels inherit; a child torch then runs AVX2 kernels
    assert {k: os.environ.get(k) for k in PINNED} == PINNED
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "AVX2"


def test_the_command_line_needs_a_command(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
