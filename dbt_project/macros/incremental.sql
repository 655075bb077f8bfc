{#
  Incremental runs over a partition window.

  The orchestrator passes the window of business days to build in the environment
  variables ALPHADAG_WINDOW_START and ALPHADAG_WINDOW_END (ISO dates, inclusive). A model
  built incrementally reads only the window's bars plus the warm-up its windows need (a
  number of bars before the window start), computes, and replaces the window's rows.
  Exponential averages and running sums do not need their whole history: they continue
  from the value stored on the last bar before the window (the anchor), exactly as the
  recursion would. Without a window, or on the first build, a model computes the whole
  history.

  The window is read only while executing, never while parsing: dbt's partial parsing
  tracks the vars and environment variables a parse reads, and a window that changes
  every night would otherwise force a full re-parse of the project on every run.
#}

{#- The partition window in the environment, or none when the run covers everything. -#}
{% macro window_from_env() -%}
    {%- if execute -%}
        {%- set start = env_var('ALPHADAG_WINDOW_START', '') -%}
        {%- set end = env_var('ALPHADAG_WINDOW_END', '') -%}
        {%- if start and end -%}
            {#- a malformed date fails here, with the value, not deep inside the SQL -#}
            {%- do modules.datetime.date.fromisoformat(start) -%}
            {%- do modules.datetime.date.fromisoformat(end) -%}
            {{ return({'start': start, 'end': end}) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- The partition window of this model's run: none on a first build or a full refresh. -#}
{% macro partition_window() -%}
    {%- if is_incremental() -%}
        {{ return(window_from_env()) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#
  The bars of int_bars to compute from: the window's bars and `warm_up` bars before it,
  each with `anchor_index`, the position of the symbol's last bar before the window (null
  when the symbol has none). Without a window, every bar.
#}
{% macro bars_with_warm_up(warm_up) -%}
    {%- set window = partition_window() -%}
    {%- if window is none %}
    select *, null::bigint as anchor_index from {{ ref('int_bars') }}
    {%- else %}
    select bars.*, starts.first_index - 1 as anchor_index
    from {{ ref('int_bars') }} as bars
    inner join (
        select symbol, min(bar_index) as first_index
        from {{ ref('int_bars') }}
        where date between '{{ window.start }}' and '{{ window.end }}'
        group by symbol
    ) as starts using (symbol)
    where bars.bar_index >= starts.first_index - {{ warm_up }}
        and bars.date <= '{{ window.end }}'
    {%- endif %}
{%- endmacro %}

{#- The stored state of the anchor bars: this model's own `columns` (as anchor_<column>)
    on each symbol's last bar before the window; an empty set without a window. -#}
{% macro anchor_state(columns) -%}
    {%- set window = partition_window() -%}
    {%- if window is none %}
    select null::varchar as symbol{% for column in columns %}, null::double as anchor_{{ column }}{% endfor %}
    where false
    {%- else %}
    select symbol{% for column in columns %}, {{ column }} as anchor_{{ column }}{% endfor %}
    from {{ this }}
    where date < '{{ window.start }}'
    qualify row_number() over (partition by symbol order by date desc) = 1
    {%- endif %}
{%- endmacro %}

{#- The anchor argument of the exponential-average macros for a stored column; averages
    positioned by change_index (from the second bar) pass by_change=true. -#}
{% macro anchor_of(column, by_change=false) -%}
    {{ return({'index': '(anchor_index - 1)' if by_change else 'anchor_index', 'value': 'anchor_' ~ column}) }}
{%- endmacro %}

{% macro in_partition_window(date='date') -%}
    {%- set window = partition_window() -%}
    {%- if window is none -%}
        true
    {%- else -%}
        {{ date }} between '{{ window.start }}' and '{{ window.end }}'
    {%- endif -%}
{%- endmacro %}
