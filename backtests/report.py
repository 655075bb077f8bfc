"""Human-readable views of a backtest: a self-contained HTML report and a small PNG.

The HTML report embeds plotly.js instead of linking a CDN: reports are opened from
``$ALPHADAG_HOME/reports`` long after the run, often on machines without internet
access, and must render exactly as they did when written. The PNG is small enough to
travel as Dagster asset metadata.

plotly and matplotlib are imported inside the functions that use them, so importing
this module costs nothing for code that never renders a report.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.metrics import PERCENT_METRICS, drawdown_series, monthly_returns, rolling_sharpe
from backtests.study import BENCHMARK, StudyResult

__all__ = ["equity_curve_png", "grid_heatmap_png", "write_report"]

ROLLING_WINDOW = 63
"""Trading days in the rolling Sharpe window (one quarter)."""

_TABLE_COLUMNS = (
    "sharpe",
    "cagr",
    "volatility",
    "max_drawdown",
    "max_drawdown_duration",
    "turnover",
    "exposure",
    "beta",
    "alpha",
    "information_ratio",
    "excess_return_t",
    "psr",
    "deflated_sharpe",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEADLINE_COLOR = "#1f77b4"
_BENCHMARK_COLOR = "#7f7f7f"
_ORACLE_COLOR = "#2ca02c"
_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { padding: 0.25rem 0.5rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.headline td { font-weight: 600; }
td.pos { color: #1a7f37; } td.neg { color: #c62828; }
code { color: #555; font-size: 0.85rem; }
img { max-width: 100%; }
"""


def write_report(
    study: StudyResult,
    path: Path,
    title: str,
    notes: list[str],
    model_pngs: Mapping[str, bytes],
) -> Path:
    """Write a self-contained HTML report of ``study`` to ``path`` and return the path.

    Contents: the strategies table (the headline, every baseline and the oracle bound,
    same period, construction and costs), every strategy's equity curve, the headline's
    drawdown and rolling Sharpe against the benchmark, its exposure and turnover over
    time, the stress table, the sensitivity grid as a heatmap, the model section
    (``model_pngs``: e.g. IC series, deciles, importance) and the headline's monthly
    returns. plotly.js is embedded inline (no CDN), so the file works offline.

    The file is written to a temporary sibling and moved into place with
    :func:`os.replace`: a reader never sees a half-written report.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = Path(path)
    sim = study.simulation
    headline = study.headline
    strategies = list(study.metrics["strategy"])
    config = {"displaylogo": False, "responsive": True}

    equity = go.Figure()
    for name in strategies:
        style = _line_style(name, headline)
        equity.add_trace(
            go.Scatter(
                x=sim.value.index,
                y=_finite(sim.value[name]),
                name=name,
                mode="lines",
                line=style,
                visible=True
                if style.get("width", 1) > 1
                else "legendonly"
                if name.endswith("long_short")
                else True,
            )
        )
    equity.update_layout(
        height=480,
        template="plotly_white",
        hovermode="x unified",
        yaxis={"type": "log", "title": "value"},
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
    )

    returns = sim.returns[headline]
    detail = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        subplot_titles=(
            "Drawdown",
            f"Rolling {ROLLING_WINDOW}-day Sharpe ratio (annualized)",
            "Exposure (gross and net, at each close)",
            "Turnover (one-way, per day)",
        ),
    )
    for name in (headline, BENCHMARK):
        style = _line_style(name, headline)
        detail.add_trace(
            go.Scatter(
                x=sim.value.index,
                y=_finite(drawdown_series(sim.value[name])),
                name=name,
                line=style,
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        detail.add_trace(
            go.Scatter(
                x=sim.value.index,
                y=_finite(rolling_sharpe(sim.returns[name], ROLLING_WINDOW)),
                name=name,
                line=style,
                legendgroup=name,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    for series, label in ((sim.gross[headline], "gross"), (sim.net[headline], "net")):
        detail.add_trace(
            go.Scatter(x=series.index, y=_finite(series), name=f"{headline} {label}"), row=3, col=1
        )
    detail.add_trace(
        go.Bar(
            x=sim.turnover.index, y=_finite(sim.turnover[headline]), name=f"{headline} turnover"
        ),
        row=4,
        col=1,
    )
    detail.update_yaxes(tickformat=".0%", row=1, col=1)
    detail.update_layout(
        height=900,
        template="plotly_white",
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
    )

    table = monthly_returns(returns)
    monthly = go.Figure(
        go.Heatmap(
            z=_finite(table * 100.0).to_numpy() if not table.empty else [[]],
            x=list(_MONTHS),
            y=[str(year) for year in table.index],
            colorscale="RdYlGn",
            zmid=0.0,
            texttemplate="%{z:.1f}",
            colorbar={"title": {"text": "%"}},
        )
    )
    monthly.update_layout(
        height=max(220, 60 + 32 * len(table.index)),
        template="plotly_white",
        yaxis={"autorange": "reversed", "type": "category"},
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
    )

    index = sim.value.index
    period = f"{index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}, {len(index)} trading days"
    images = "".join(
        f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in model_pngs.items()
    )
    document = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{html.escape(period)}</p>',
            *(f'<p class="meta">{html.escape(note)}</p>' for note in notes),
            "<h2>Strategies, baselines and the oracle bound</h2>",
            _strategies_table(study.metrics, headline),
            "<h2>Equity of every strategy</h2>",
            equity.to_html(full_html=False, include_plotlyjs=True, config=config),
            f"<h2>{html.escape(headline)}: drawdown, rolling Sharpe, exposure, turnover</h2>",
            detail.to_html(full_html=False, include_plotlyjs=False, config=config),
            "<h2>Stress tests</h2>",
            _frame_table(study.stress, "scenario"),
            "<h2>Sensitivity grid</h2>",
            '<p class="meta">Net Sharpe ratio of every configuration tried on this period; '
            "the deflated Sharpe ratio counts all of them as trials.</p>",
            f'<img alt="grid" src="data:image/png;base64,'
            f'{base64.b64encode(grid_heatmap_png(study.grid)).decode()}">',
            "<h2>Model</h2>",
            images,
            "<h2>Monthly returns of the headline (%)</h2>",
            monthly.to_html(full_html=False, include_plotlyjs=False, config=config),
            _monthly_table(table, returns),
            "</body>",
            "</html>",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, document.encode("utf-8"))
    return path


def _line_style(name: str, headline: str) -> dict[str, object]:
    if name == headline:
        return {"color": _HEADLINE_COLOR, "width": 2.4}
    if name == BENCHMARK:
        return {"color": _BENCHMARK_COLOR, "width": 1.5}
    if name.startswith("oracle"):
        return {"color": _ORACLE_COLOR, "width": 1.5, "dash": "dot"}
    return {"width": 1.0}


def equity_curve_png(study: StudyResult) -> bytes:
    """A small PNG (about 800 x 450 px): every long-only strategy's equity, the headline bold,
    above the headline's drawdown. Drawn on an Agg canvas without pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    sim = study.simulation
    dates = sim.value.index.to_numpy()
    for name in study.metrics["strategy"]:
        if name.endswith("long_short"):
            continue
        style = _line_style(name, study.headline)
        top.plot(
            dates,
            sim.value[name].to_numpy() / sim.init_cash,
            label=name,
            color=style.get("color"),
            lw=style["width"],
            ls=":" if style.get("dash") else "-",
        )
    top.set_yscale("log")
    top.set_title(f"{study.headline} against its baselines", fontsize=10)
    top.set_ylabel("growth of 1")
    top.legend(loc="best", fontsize=7, frameon=False)
    top.grid(alpha=0.3)
    drawdown = drawdown_series(sim.value[study.headline]).to_numpy() * 100.0
    bottom.fill_between(dates, drawdown, 0.0, color="#c62828", alpha=0.35, lw=0)
    bottom.set_ylabel("Drawdown %")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    return _png(figure)


def grid_heatmap_png(grid: pd.DataFrame) -> bytes:
    """Net Sharpe by top-k (rows) and rebalance frequency (columns), one panel per cost level,
    each cell the best holding buffer's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    levels = sorted(grid["cost_scale"].unique())
    figure = Figure(figsize=(3.2 * len(levels) + 1, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(levels), squeeze=False)[0]
    low, high = float(grid["sharpe"].min()), float(grid["sharpe"].max())
    bound = max(abs(low), abs(high), 1e-9)
    image = None
    for ax, level in zip(axes, levels, strict=True):
        table = grid[grid["cost_scale"] == level].pivot_table(
            index="top_k", columns="rebalance_every", values="sharpe", aggfunc="max"
        )
        image = ax.imshow(table.to_numpy(), cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
        ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
        ax.set_xlabel("rebalance every (days)")
        ax.set_title(f"costs x{level:g}", fontsize=9)
        for (row, col), value in np.ndenumerate(table.to_numpy()):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7)
    axes[0].set_ylabel("top k")
    if image is not None:
        figure.colorbar(image, ax=list(axes), label="net Sharpe", shrink=0.8)
    return _png(figure)


def _png(figure: object) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # type: ignore[attr-defined]
    return buffer.getvalue()


def _strategies_table(metrics: pd.DataFrame, headline: str) -> str:
    columns = [c for c in _TABLE_COLUMNS if c in metrics.columns]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ("strategy", *columns))
    rows = []
    for _, row in metrics.iterrows():
        css = ' class="headline"' if row["strategy"] == headline else ""
        cells = "".join(f"<td>{_format_metric(c, row[c])}</td>" for c in columns)
        rows.append(f"<tr{css}><td>{html.escape(str(row['strategy']))}</td>{cells}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _frame_table(frame: pd.DataFrame, key: str) -> str:
    columns = [c for c in ("days", *_TABLE_COLUMNS, "total_return") if c in frame.columns]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in (key, *columns))
    rows = "".join(
        f"<tr><td>{html.escape(str(row[key]))}</td>"
        + "".join(f"<td>{_format_metric(c, row[c])}</td>" for c in columns)
        + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _finite(values: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Replace +-inf with NaN: plots show a gap rather than an unreadable axis."""
    return values.replace([np.inf, -np.inf], np.nan)


def _format_metric(name: str, value: float) -> str:
    """Percent for return-like metrics, plain numbers otherwise; 'n/a' for NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "&infin;" if number > 0 else "-&infin;"
    if name in ("n_trials", "days", "max_drawdown_duration"):
        return f"{number:,.0f}"
    if name in PERCENT_METRICS:
        return f"{number:.2%}"
    if name == "turnover":
        return f"{number:.2f}x"
    return f"{number:.3f}"


def _monthly_table(table: pd.DataFrame, returns: pd.Series) -> str:
    """Year x month table of monthly returns with the compounded year in the last column."""
    clean = returns.dropna()
    yearly = (
        (1.0 + clean).groupby(clean.index.year).prod() - 1.0
        if len(clean)
        else pd.Series(dtype=float)
    )
    header = "".join(f"<th>{month}</th>" for month in (*_MONTHS, "Year"))
    body = []
    for year, row in table.iterrows():
        cells = [*row.tolist(), yearly.get(year, math.nan)]
        rendered = "".join(_percent_cell(value) for value in cells)
        body.append(f"<tr><td>{year}</td>{rendered}</tr>")
    return (
        f'<table class="monthly"><thead><tr><th></th>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _percent_cell(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "<td></td>"
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<td class="{css}">{value * 100:.1f}</td>'


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and :func:`os.replace`."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
