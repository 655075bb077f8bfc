{#
  The data tests of a partition run check the rows that run wrote.

  dbt reads the relation of every data test through get_where_subquery (where a test's
  `where` config applies). This override adds the partition window (incremental.sql)
  for the tests of incremental models: a nightly run replaces only the window's rows,
  the earlier rows were tested by the run that wrote them, and testing ten years of
  history every night would make the nightly cost grow with the history. Without a
  window (a full build) every row is tested, and views and tables that every run
  rebuilds whole (stg_ohlcv, fct_labels, dim_symbols) are always tested whole.
#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window = window_from_env() if tests_incremental_model() else none -%}
    {%- if window is not none -%}
        {%- do conditions.append("date between '" ~ window.start ~ "' and '" ~ window.end ~ "'") -%}
    {%- endif -%}
    {%- if conditions -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- Whether the data test being run reads an incremental model. -#}
{% macro tests_incremental_model() -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {{ return(tested is not none and tested.config.materialized == 'incremental') }}
{%- endmacro %}
