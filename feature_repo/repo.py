"""Module-level Feast objects for the `feast` command line (`feast apply`, `feast ui`)."""

import os
from pathlib import Path

from definitions import build_feature_repo  # type: ignore[import-not-found]

_home = Path(os.environ.get("ALPHADAG_HOME", Path(__file__).resolve().parent.parent / "data"))
_repo = build_feature_repo(_home / "lake" / "features")

symbol = _repo.symbol
fct_features_source = _repo.source
returns_features = _repo.views["returns"]
trend_features = _repo.views["trend"]
momentum_features = _repo.views["momentum"]
volatility_features = _repo.views["volatility"]
alphadag_v1 = _repo.service
