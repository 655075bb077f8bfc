{#
  DuckDB's threads for one model.

  Each DuckDB thread keeps its own hash tables, so the widest join (fct_features: eight
  tables of up to 158 columns) needs about one build side per thread. At thousands of
  symbols over ten years, two threads exceed a 5GB memory limit where one passes.
  ALPHADAG_FEATURE_JOIN_THREADS bounds that model alone (the other models keep every
  core); empty, the default, leaves DuckDB's own setting (one thread per core).
#}

{% macro bound_join_threads() -%}
    {%- set threads = env_var('ALPHADAG_FEATURE_JOIN_THREADS', '') if execute else '' -%}
    {%- if threads -%}
        set threads = {{ threads | int }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro restore_threads() -%}
    {%- set threads = env_var('ALPHADAG_FEATURE_JOIN_THREADS', '') if execute else '' -%}
    {%- if threads -%}
        reset threads
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
