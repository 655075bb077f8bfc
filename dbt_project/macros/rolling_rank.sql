{#
  pandas' rolling rank with pct=True (Qlib's Rank): the average rank of the current value
  among the last n values (ties share their mean rank), divided by how many there are.

  values:  a list column of trailing values, oldest first, the current value last
  current: the current value
  period:  n, at most the length of the list's window
#}
{% macro rolling_rank(values, current, period) -%}
    {%- set window = 'list_slice(' ~ values ~ ', -' ~ period ~ ', -1)' -%}
    (
        len(list_filter({{ window }}, v -> v < {{ current }}))
        + (len(list_filter({{ window }}, v -> v = {{ current }})) + 1) / 2
    ) / len({{ window }})
{%- endmacro %}
