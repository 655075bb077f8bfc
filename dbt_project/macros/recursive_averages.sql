{#
  Exponential averages as TA-Lib defines them, without recursion.

  TA-Lib seeds an exponential average of period n with the simple mean of the first n
  values, then applies  e[p] = alpha * x[p] + (1 - alpha) * e[p-1].  Unrolled, with
  q = 1 - alpha and p counted from the first input value:

      e[p] = q^(p-n+1) * mean(x[0..n-1]) + alpha * q^p * sum_{i=n..p} x[i] * q^(-i)

  Both sums are running window sums, so the whole series is one pass of window
  functions instead of a row-by-row recursion. The weights q^(-i) grow with i, which
  bounds the series length to about 700 / ln(1/q) values (4,000 daily bars for a
  12-period EMA, 9,000 for 14-period Wilder smoothing).

  value:     column holding x (null values before `position` 0 are ignored)
  position:  column with p, the 0-based index of x within its series (negative = not yet)
  period:    n
  alpha:     smoothing factor (2/(n+1) for EMA, 1/n for Wilder)
#}
{% macro ta_exponential_average(value, position, period, alpha, series_window='(partition by symbol order by date rows between unbounded preceding and current row)') -%}
    {%- set q = '(1.0 - ' ~ alpha ~ ')' -%}
    case when {{ position }} >= {{ period }} - 1 then
        pow({{ q }}, {{ position }} - {{ period }} + 1)
            * (sum(case when {{ position }} between 0 and {{ period }} - 1 then {{ value }} end) over {{ series_window }}) / {{ period }}
        + {{ alpha }} * pow({{ q }}, {{ position }})
            * coalesce(sum(case when {{ position }} >= {{ period }} then {{ value }} * pow({{ q }}, -{{ position }}) end) over {{ series_window }}, 0)
    end
{%- endmacro %}

{% macro ta_ema(value, position, period, series_window='(partition by symbol order by date rows between unbounded preceding and current row)') -%}
    {{ ta_exponential_average(value, position, period, '(2.0 / (' ~ period ~ ' + 1))', series_window) }}
{%- endmacro %}

{% macro ta_wilder(value, position, period, series_window='(partition by symbol order by date rows between unbounded preceding and current row)') -%}
    {{ ta_exponential_average(value, position, period, '(1.0 / ' ~ period ~ ')', series_window) }}
{%- endmacro %}

{#- A trailing-window aggregate that is null until the window is full, as TA-Lib does. -#}
{% macro full_window(aggregate, position, period, partition_by='symbol', order_by='date') -%}
    case when {{ position }} >= {{ period }} - 1 then
        {{ aggregate }} over (partition by {{ partition_by }} order by {{ order_by }} rows between {{ period - 1 }} preceding and current row)
    end
{%- endmacro %}
