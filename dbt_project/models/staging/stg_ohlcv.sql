-- One row per (symbol, date) with prices on one consistent adjusted scale: see the
-- staged_ohlcv macro (macros/staging.sql), which int_bars' incremental runs share.
{{ staged_ohlcv(source('lake', 'raw_ohlcv')) }}
