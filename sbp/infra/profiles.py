"""The notebooks' profiles, defined once: ``quick`` (CPU minutes), ``reference`` (the shipped models),
``paper`` (the paper's settings). The zoo, the notebooks' set-up and the main job take them from here."""
from __future__ import annotations

__all__ = ["PROFILES", "check_profile"]

PROFILES = ("quick", "reference", "paper")


def check_profile(profile: str) -> str:
    """``profile`` itself; a clear error lists the profiles when it is none of them."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile
