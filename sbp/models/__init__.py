"""Models used by the experiments; import the submodules directly (e.g. ``sbp.models.dcgan``)."""
