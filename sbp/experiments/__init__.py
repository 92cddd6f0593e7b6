"""The paper's experiments, by section: 2-D densities (``density2d``, Section 3), GAN training and the
model zoo (``gan``, Section 4), latent-space analyses (``latent``, Sections 4-5), the estimator
benchmark (``benchmark``); ``notebook`` is the set-up every notebook calls."""
