-- One row per (symbol, date) with prices on one consistent adjusted scale: see the
-- staged_ohlcv macro (macros/staging.sql), which int_bars' incremental runs share.
-- depends_on: {{ source('lake', 'raw_ohlcv') }}
{{ staged_ohlcv(read_lake_glob()) }}
