"""Library notices that are not the user's business on the command line.

`alphadag run --verbose` skips all of this and shows everything.
"""

from __future__ import annotations

import warnings


def quiet_libraries() -> None:
    """Silence the known, harmless notices of the libraries a run uses."""
    # beta flags, and a deprecated optional sqlglot extension that nothing here needs
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=r".*sqlglot\[rs\].*")
