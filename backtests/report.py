"""Human-readable views of a backtest: a self-contained HTML report and a small PNG.

The HTML report embeds plotly.js instead of linking a CDN: reports are opened from
``$ALPHADAG_HOME/reports`` long after the run, often on machines without internet
access, and must render exactly as they did when written. The PNG is small enough to
travel as Dagster asset metadata.

plotly and matplotlib are imported inside the functions that use them, so importing
this module costs nothing for code that never renders a report.
"""

from __future__ import annotations

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

from backtests.metrics import drawdown_series, monthly_returns, rolling_sharpe
from backtests.portfolio import BacktestResult

__all__ = ["equity_curve_png", "write_report"]

ROLLING_WINDOW = 63
"""Trading days in the rolling Sharpe window (one quarter)."""

_PERCENT_METRICS = frozenset(
    {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "var_95", "cvar_95"}
)
_LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "volatility": "Volatility (annualized)",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Maximum drawdown",
    "win_rate": "Win rate (non-flat days)",
    "profit_factor": "Profit factor",
    "turnover": "Turnover (one-way, per year)",
    "var_95": "Daily VaR 95%",
    "cvar_95": "Daily CVaR 95%",
    "psr": "Probabilistic Sharpe ratio",
    "deflated_sharpe": "Deflated Sharpe ratio",
    "n_trials": "Trials",
    "benchmark_sharpe": "Benchmark Sharpe ratio",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STRATEGY_COLOR = "#1f77b4"
_BENCHMARK_COLOR = "#7f7f7f"
_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.pos { color: #1a7f37; } td.neg { color: #c62828; }
code { color: #555; font-size: 0.85rem; }
"""


def write_report(
    result: BacktestResult,
    metrics: Mapping[str, float],
    path: Path,
    title: str,
) -> Path:
    """Write a self-contained HTML report of ``result`` to ``path`` and return the path.

    Contents: the metrics table (every key of ``metrics``, in order), equity of the
    strategy against the benchmark, drawdowns, rolling 63-day Sharpe ratio, and monthly
    returns as a heatmap and as a plain table (readable even with scripts disabled).
    plotly.js is embedded inline (no CDN), so the file works offline.

    The file is written to a temporary file in the same folder and moved into place
    with :func:`os.replace`, so a reader never sees a half-written report and a failed
    run leaves the previous report intact. Parent folders are created.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = Path(path)
    returns = result.returns.astype(float)
    benchmark = result.benchmark_returns.astype(float)

    curves = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.5, 0.25, 0.25],
        subplot_titles=(
            "Equity",
            "Drawdown",
            f"Rolling {ROLLING_WINDOW}-day Sharpe ratio (annualized)",
        ),
    )
    series_rows = (
        (result.equity, result.benchmark_equity, 1),
        (drawdown_series(result.equity), drawdown_series(result.benchmark_equity), 2),
        (rolling_sharpe(returns, ROLLING_WINDOW), rolling_sharpe(benchmark, ROLLING_WINDOW), 3),
    )
    for strategy_values, benchmark_values, row in series_rows:
        for name, values, color in (
            ("Strategy", strategy_values, _STRATEGY_COLOR),
            ("Benchmark (equal-weight buy and hold)", benchmark_values, _BENCHMARK_COLOR),
        ):
            curves.add_trace(
                go.Scatter(
                    x=values.index,
                    y=_finite(values),
                    name=name,
                    mode="lines",
                    line={"color": color, "width": 1.5},
                    legendgroup=name,
                    showlegend=row == 1,
                ),
                row=row,
                col=1,
            )
    curves.update_yaxes(tickformat=",.0f", row=1, col=1)
    curves.update_yaxes(tickformat=".0%", row=2, col=1)
    curves.update_layout(
        height=800,
        template="plotly_white",
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.06},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )

    table = monthly_returns(returns)
    heatmap = go.Figure(
        go.Heatmap(
            z=_finite(table * 100.0).to_numpy() if not table.empty else [[]],
            x=list(_MONTHS),
            y=[str(year) for year in table.index],
            colorscale="RdYlGn",
            zmid=0.0,
            texttemplate="%{z:.1f}",
            hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>",
            colorbar={"title": {"text": "%"}},
        )
    )
    heatmap.update_layout(
        height=max(220, 60 + 32 * len(table.index)),
        template="plotly_white",
        yaxis={"autorange": "reversed", "type": "category"},
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
    )

    config = {"displaylogo": False, "responsive": True}
    curves_html = curves.to_html(full_html=False, include_plotlyjs=True, config=config)
    heatmap_html = heatmap.to_html(full_html=False, include_plotlyjs=False, config=config)

    index = result.returns.index
    period = (
        f"{index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}, {len(index)} trading days"
        if len(index)
        else "empty period"
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
            f'<p class="meta">{html.escape(period)}; {result.n_trades} orders filled. '
            "Weights decided after the close of a day are traded at the next close.</p>",
            "<h2>Metrics</h2>",
            _metrics_table(metrics),
            "<h2>Equity, drawdown and rolling Sharpe ratio</h2>",
            curves_html,
            "<h2>Monthly returns (%)</h2>",
            heatmap_html,
            _monthly_table(table, returns),
            "</body>",
            "</html>",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, document.encode("utf-8"))
    return path


def equity_curve_png(result: BacktestResult, title: str) -> bytes:
    """A small PNG (about 800 x 450 px) of equity vs benchmark above the drawdown.

    Drawn with matplotlib's object-oriented API on an Agg canvas rather than pyplot,
    so it neither changes the backend of the calling process (a notebook keeps its
    inline plots) nor shares pyplot's global figure state between threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    dates = result.equity.index.to_numpy()
    top.plot(dates, result.equity.to_numpy(), color=_STRATEGY_COLOR, lw=1.3, label="Strategy")
    top.plot(
        result.benchmark_equity.index.to_numpy(),
        result.benchmark_equity.to_numpy(),
        color=_BENCHMARK_COLOR,
        lw=1.1,
        label="Benchmark",
    )
    top.set_title(title, fontsize=10)
    top.set_ylabel("Equity")
    top.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    top.legend(loc="best", fontsize=8, frameon=False)
    top.grid(alpha=0.3)
    drawdown = drawdown_series(result.equity).to_numpy() * 100.0
    bottom.fill_between(dates, drawdown, 0.0, color="#c62828", alpha=0.35, lw=0)
    bottom.set_ylabel("Drawdown %")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


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
    if name == "n_trials":
        return f"{number:,.0f}"
    if name in _PERCENT_METRICS:
        return f"{number:.2%}"
    if name == "turnover":
        return f"{number:.2f}x"
    return f"{number:.3f}"


def _metrics_table(metrics: Mapping[str, float]) -> str:
    rows = [
        "<tr>"
        f"<td>{html.escape(_LABELS.get(name, name))} <code>{html.escape(name)}</code></td>"
        f"<td>{_format_metric(name, value)}</td>"
        "</tr>"
        for name, value in metrics.items()
    ]
    return (
        '<table class="metrics"><thead><tr><th>Metric</th><th>Value</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


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
