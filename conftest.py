"""Root conftest: nbval does not compare stderr, where progress bars go (see CONTRIBUTING.md), and the
notebooks that nbval re-executes write their figures to build/nbval-figures/, never over the committed
figures/ (which RESULTS.md is generated from). The CPU kernels are pinned (``sbp.infra.cpu_kernels``) before
anything imports torch, so that the notebooks print the same float32 digits on every x86-64 CPU."""
import os
from pathlib import Path

from sbp.infra.cpu_kernels import pin_cpu_kernels

pin_cpu_kernels()

os.environ.setdefault("SBP_PROGRESS", "0")
os.environ.setdefault("SBP_FIGURES_DIR", str(Path(__file__).resolve().parent / "build" / "nbval-figures"))


def pytest_collectstart(collector):
    if str(getattr(collector, "path", "")).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)
