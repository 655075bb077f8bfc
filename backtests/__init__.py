"""Backtesting domain code: signals, portfolio simulation, metrics and reports.

Pure python (never imports dagster). Submodules are imported explicitly
(``from backtests.metrics import performance_summary``) so that the cheap ones stay
cheap: vectorbt, plotly and matplotlib load only inside the functions that need them.
"""
