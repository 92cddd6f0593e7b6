"""Root conftest: nbval does not compare stderr, where progress bars go (see CONTRIBUTING.md)."""
import os

os.environ.setdefault("SBP_PROGRESS", "0")


def pytest_collectstart(collector):
    if str(getattr(collector, "path", "")).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)
