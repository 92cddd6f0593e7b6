"""Section 3: the 2-D test energies and densities (``energies``) and the reverse / forward KL fits (``fit``)."""
