"""Section 4: DCGAN training (``train``, ``distributed``), the model zoo (``zoo``) and the factor network
that scores samples (``factors``)."""
