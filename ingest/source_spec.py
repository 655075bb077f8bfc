"""The names of the sources (``ALPHADAG_SOURCE``), parsed without reading any data.

Apart from :mod:`ingest.sources` (which reads them) so that the settings, and the
Dagster definitions built from them, check a source without importing pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SOURCE_KINDS = ("simulator", "sample", "csv", "parquet", "yfinance")
DIRECTORY_KINDS = ("csv", "parquet")
_VALID_FORMS = "simulator, sample, yfinance, csv:DIR, parquet:DIR"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source: its kind and, for file sources, the directory to read."""

    kind: str
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; valid forms: {_VALID_FORMS}")
        if (self.path is None) == (self.kind in DIRECTORY_KINDS):
            needs = "needs" if self.kind in DIRECTORY_KINDS else "takes no"
            raise ValueError(
                f"source {self.kind!r} {needs} a directory; valid forms: {_VALID_FORMS}"
            )

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_source(spec: str) -> SourceSpec:
    """Parse ``simulator``, ``sample``, ``yfinance``, ``csv:DIR`` or ``parquet:DIR``.

    The kind is case-insensitive; ``DIR`` may start with ``~``. Relative directories stay
    relative (to the working directory of whoever reads them).
    """
    kind, separator, rest = spec.strip().partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if kind in DIRECTORY_KINDS and rest:
        return SourceSpec(kind, Path(rest).expanduser())
    if kind in SOURCE_KINDS and kind not in DIRECTORY_KINDS and not separator:
        return SourceSpec(kind)
    if kind in DIRECTORY_KINDS:
        raise ValueError(
            f"source {spec!r} needs a directory ({kind}:DIR); valid forms: {_VALID_FORMS}"
        )
    raise ValueError(f"unknown source {spec!r}; valid forms: {_VALID_FORMS}")
