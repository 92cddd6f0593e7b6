"""Numerics that know no network, no data and no file: Jacobian operators (``jacobian``), the dense
exact path (``dense``, ``exact``), spectral bounds (``bounds``), Lanczos quadrature (``quadrature``), polynomials
(``polynomials``), trace estimation (``trace``), singular rows (``singular``), the stochastic methods
(``estimators``, ``stochastic``), the result and its warnings (``result``, ``report``), the log det facade
(``logdet``), densities (``density``), eigenpairs of J^T J (``eigen``), errors (``errors``), input checks
(``checks``, ``options``)."""
