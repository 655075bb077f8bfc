"""How a backtest is configured: costs, the book's construction, the grid, the study.

Frozen dataclasses apart from the modules that run them, so that the Dagster
definitions take their defaults without importing pandas or numpy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Literal

Execution = Literal["open", "close"]
_SLIPPAGE_TERMS = ("slippage_bps", "slippage_vol_mult", "impact_coef")


@dataclass(frozen=True)
class CostModel:
    """Trading costs. Frozen: derive variants with :meth:`scaled` or :func:`dataclasses.replace`.

    Attributes:
        commission_bps: broker commission per side, bps of traded notional.
        commission_per_share: commission per share traded (currency).
        slippage_bps: fixed slippage per side, bps of the price.
        slippage_vol_mult: extra slippage as a multiple of the name's trailing daily
            volatility (0.1 adds 20 bps for a name moving 2% a day).
        impact_coef: extra slippage per unit of participation, the traded notional over
            the 20-day average dollar volume (0.1 adds 1 bp at 0.1% of a day's volume).
        borrow_bps: annual fee on short notional, bps.
    """

    commission_bps: float = 5.0
    commission_per_share: float = 0.0
    slippage_bps: float = 5.0
    slippage_vol_mult: float = 0.0
    impact_coef: float = 0.0
    borrow_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")

    def scaled(self, factor: float) -> CostModel:
        """Every trading cost (not the borrow fee) multiplied by ``factor``."""
        return self._times(("commission_bps", "commission_per_share", *_SLIPPAGE_TERMS), factor)

    def with_slippage_scaled(self, factor: float) -> CostModel:
        """Every slippage term multiplied by ``factor`` (the slippage stress tests)."""
        return self._times(_SLIPPAGE_TERMS, factor)

    def _times(self, names: tuple[str, ...], factor: float) -> CostModel:
        return replace(self, **{name: getattr(self, name) * factor for name in names})


@dataclass(frozen=True)
class PortfolioSpec:
    """How scores become a book. Frozen: derive variants with :func:`dataclasses.replace`.

    Attributes:
        top_k: names per side (long-only holds ``top_k`` names; long-short holds
            ``top_k`` long and ``top_k`` short).
        long_short: dollar-neutral long-short book (half the gross on each side)
            instead of long-only.
        rebalance_every: trading days between rebalances, counted from the first
            scored date; match it to the label's horizon.
        n_drop: holding buffer; a held name is kept while its rank is better than
            ``top_k + n_drop``.
        weighting: ``equal`` or ``inverse_vol`` (weights proportional to the inverse of
            each name's trailing volatility) within each side.
        vol_target: annualized volatility the book is scaled to (ex ante, from its
            trailing returns at the decided weights), capped by ``max_gross``; None
            keeps the gross at ``max_gross``.
        vol_window: trading days of the trailing volatility estimates.
        max_position: largest absolute weight of one name; what a cap removes stays in
            cash.
        max_gross: largest sum of absolute weights (1.0: no leverage).
    """

    top_k: int = 10
    long_short: bool = False
    rebalance_every: int = 5
    n_drop: int = 5
    weighting: Literal["equal", "inverse_vol"] = "equal"
    vol_target: float | None = None
    vol_window: int = 63
    max_position: float = 1.0
    max_gross: float = 1.0

    def __post_init__(self) -> None:
        for name in ("top_k", "rebalance_every", "vol_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.n_drop, bool) or not isinstance(self.n_drop, int) or self.n_drop < 0:
            raise ValueError(f"n_drop must be an integer >= 0, got {self.n_drop!r}")
        if self.weighting not in ("equal", "inverse_vol"):
            raise ValueError(f"weighting must be 'equal' or 'inverse_vol', got {self.weighting!r}")
        for name in ("max_position", "max_gross"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if self.vol_target is not None and not (
            math.isfinite(self.vol_target) and self.vol_target > 0
        ):
            raise ValueError(f"vol_target must be finite and > 0, got {self.vol_target!r}")


@dataclass(frozen=True)
class GridSpec:
    """The sensitivity grid: every combination of these values (the model's scores)."""

    top_k: tuple[int, ...] = (5, 10, 15, 20, 30)
    rebalance_every: tuple[int, ...] = (1, 5, 10, 21)
    cost_scale: tuple[float, ...] = (0.0, 1.0, 2.0)
    n_drop: tuple[int, ...] = (0, 5)

    def configurations(self) -> list[tuple[int, int, float, int]]:
        """Every (top_k, rebalance_every, cost_scale, n_drop) combination."""
        return list(
            itertools.product(self.top_k, self.rebalance_every, self.cost_scale, self.n_drop)
        )


@dataclass(frozen=True)
class StudyConfig:
    spec: PortfolioSpec = field(default_factory=PortfolioSpec)
    costs: CostModel = field(default_factory=CostModel)
    execution: Execution = "open"
    init_cash: float = 1_000_000.0
    grid: GridSpec = field(default_factory=GridSpec)
