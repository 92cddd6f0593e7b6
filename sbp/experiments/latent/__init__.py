"""Sections 4-5: likelihood ascent (``ascent``), eigen-direction disentanglement (``disentangle``), effective
dimensionality (``effective_dim``) and the interactive explorer (``explore``)."""
