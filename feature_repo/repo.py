"""Module-level Feast objects for the `feast` command line (`feast apply`, `feast ui`).

    cd feature_repo && ALPHADAG_HOME=/path/to/home feast apply

The views and the service are generated from fct_features.yml, so their names are not
fixed here: the command line finds them in this module's globals.
"""

import os
from pathlib import Path

from feature_repo.definitions import build_feature_repo

_home = Path(os.environ.get("ALPHADAG_HOME", Path(__file__).resolve().parent.parent / "data"))
_repo = build_feature_repo(_home / "lake" / "features")

symbol = _repo.symbol
fct_features_source = _repo.source
globals().update({view.name: view for view in _repo.views.values()})
globals()[_repo.service.name] = _repo.service
