"""Infrastructure: atomic files and figures (``io``), checkpoints (``checkpoint``), training helpers
(``training``), progress bars (``progress``), image grids (``plotting``), the main job (``reproduce``)
and the generated results page (``results``)."""
