{#- Percentile rank among the symbols of the same date that have a value (0 lowest, 1 highest). -#}
{% macro cross_sectional_rank(column, date='date') -%}
    case when {{ column }} is not null then
        percent_rank() over (partition by {{ date }}, {{ column }} is null order by {{ column }})
    end
{%- endmacro %}

{#- Distance from the same date's cross-sectional mean, in cross-sectional sample stds.
    The frame is ordered by symbol so the sums accumulate in one order on every run:
    the result is bit-identical whatever the rows of other dates are. -#}
{% macro cross_sectional_zscore(column, date='date', order_by='symbol') -%}
    {%- set same_date = '(partition by ' ~ date ~ ' order by ' ~ order_by ~ ' rows between unbounded preceding and unbounded following)' -%}
    ({{ column }} - avg({{ column }}) over {{ same_date }})
        / nullif(stddev_samp({{ column }}) over {{ same_date }}, 0)
{%- endmacro %}
