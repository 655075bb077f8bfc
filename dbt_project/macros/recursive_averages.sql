{#
  Exponential averages as TA-Lib defines them, without recursion and without overflow.

  TA-Lib seeds an average of period n at position s (usually n - 1) with the simple mean
  of the n values ending there, then applies  e[p] = alpha * x[p] + q * e[p-1]  with
  q = 1 - alpha. Put y[s] = seed / alpha, y[p] = x[p] for p > s and y = 0 before s;
  unrolled, the recursion is a weighted sum

      e[p] = alpha * sum_{i <= p} y[i] * q^(p - i).

  (The seed's n values enter that sum each with weight share 1 / (n * alpha) at the seed
  row's position, so the seed needs no window of its own.)

  A weight below q^B (B = block, chosen so that q^B < 2.3e-16) cannot change a double, so
  the sum over the last B rows is exact to machine precision: the recursion has a finite
  memory. That sum is computed with plain window sums. Written directly with q^(-i) the
  weights overflow after about 700 / ln(1/q) bars (4,000 for a 12-period EMA), so the rows
  are cut into blocks of B and weighted relative to their own block start: q^(-offset)
  never exceeds e^36. The last B rows lie in the current block and the previous one,
  told apart by the block's parity:

      e[p] = alpha * (q^off * S_same + q^(off + B) * S_other)

  where S_same and S_other sum y * q^(-offset) over the frame's rows of each parity.
  Cost: two windowed sums over a B-row frame (segment trees), one pass for a whole history.
#}

{#- Rows after which a weight is below double precision: q^B < e^-36. -#}
{% macro _exp_block(alpha) -%}
    {%- set state = namespace(weight=1.0, rows=0) -%}
    {%- for _ in range(20000) if state.weight >= 2.3e-16 -%}
        {%- set state.weight = state.weight * (1.0 - alpha) -%}
        {%- set state.rows = state.rows + 1 -%}
    {%- endfor -%}
    {{ state.rows }}
{%- endmacro %}

{#
  e[p] for rows with position >= seed_at, else null.

  value:    column holding x
  position: column with the 0-based index of the row in its series
  period:   n (the seed is the mean of the n values ending at seed_at)
  alpha:    smoothing factor, a number (2/(n+1) for EMA, 1/n for Wilder)
  seed_at:  position of the seed (default n - 1)
  running_sum: Wilder's running sums (DM and TR in ADX/DI): s = s - s/n + x, seeded by
            the plain sum of the n - 1 values ending at seed_at.
  anchor:   for incremental runs, {'index': column, 'value': column}: the position of the
            last stored row before the window and the average stored there. Where the value
            is set, the recursion continues from it (y[anchor] = value / alpha) instead of
            the seed, so the rows before the anchor are not needed.
#}
{% macro ta_exponential_average(value, position, period, alpha, seed_at=none, running_sum=false, anchor=none, partition_by='symbol', order_by='date') -%}
    {%- set seed_at = period - 1 if seed_at is none else seed_at -%}
    {%- set q = 1.0 - alpha -%}
    {%- set block = _exp_block(alpha) | int -%}
    {%- set off = '(' ~ position ~ ' % ' ~ block ~ ')' -%}
    {%- set parity = '((' ~ position ~ ' // ' ~ block ~ ') % 2)' -%}
    {%- set gain = 1.0 if running_sum else alpha -%}
    {#- The seed's values enter with the seed row's weight and block, so no window nests. -#}
    {%- set seed_rows = period - 1 if running_sum else period -%}
    {%- set seed_share = 1.0 if running_sum else 1.0 / (period * alpha) -%}
    {%- set seed_parity = (seed_at // block) % 2 -%}
    {%- set frame = '(partition by ' ~ partition_by ~ ' order by ' ~ order_by ~ ' rows between ' ~ (block - 1) ~ ' preceding and current row)' -%}
    {%- set sums = {} -%}
    {%- for side in [0, 1] -%}
        {%- set term -%}
            case
                {%- if anchor is not none %}
                when {{ anchor.value }} is not null then case
                    when {{ parity }} = {{ side }} and {{ position }} = {{ anchor.index }}
                        then {{ anchor.value }} / {{ gain }} * pow({{ q }}, -{{ off }})
                    when {{ parity }} = {{ side }} and {{ position }} > {{ anchor.index }}
                        then {{ value }} * pow({{ q }}, -{{ off }})
                end
                {%- endif %}
                when {{ position }} > {{ seed_at }} and {{ parity }} = {{ side }}
                    then {{ value }} * pow({{ q }}, -{{ off }})
                {%- if side == seed_parity %}
                when {{ position }} between {{ seed_at - seed_rows + 1 }} and {{ seed_at }}
                    then {{ value }} * {{ seed_share }} * pow({{ q }}, -{{ seed_at % block }})
                {%- endif %}
            end
        {%- endset -%}
        {%- do sums.update({side: 'coalesce(sum(' ~ term ~ ') over ' ~ frame ~ ', 0)'}) -%}
    {%- endfor -%}
    case when {{ position }} >= {{ seed_at }} then
        {{ gain }} * case when {{ parity }} = 0
            then pow({{ q }}, {{ off }}) * {{ sums[0] }} + pow({{ q }}, {{ off }} + {{ block }}) * {{ sums[1] }}
            else pow({{ q }}, {{ off }}) * {{ sums[1] }} + pow({{ q }}, {{ off }} + {{ block }}) * {{ sums[0] }}
        end
    end
{%- endmacro %}

{#- TA-Lib EMA: alpha 2 / (n + 1), seeded by the SMA of the first n values. -#}
{% macro ta_ema(value, position, period, seed_at=none, anchor=none) -%}
    {{ ta_exponential_average(value, position, period, 2.0 / (period + 1), seed_at, anchor=anchor) }}
{%- endmacro %}

{#- Wilder's smoothing (RSI, ATR, ADX): alpha 1 / n, seeded by the mean of the first n values. -#}
{% macro ta_wilder(value, position, period, seed_at=none, anchor=none) -%}
    {{ ta_exponential_average(value, position, period, 1.0 / period, seed_at, anchor=anchor) }}
{%- endmacro %}

{#- Wilder's running sum (DM and TR in ADX/DI): s = s - s/n + x, seeded by a sum of n - 1 values. -#}
{% macro ta_wilder_sum(value, position, period, seed_at=none, anchor=none) -%}
    {{ ta_exponential_average(value, position, period, 1.0 / period, seed_at, running_sum=true, anchor=anchor) }}
{%- endmacro %}

{#- A trailing-window aggregate that is null until the window is full, as TA-Lib does. -#}
{% macro full_window(aggregate, position, period, partition_by='symbol', order_by='date') -%}
    case when {{ position }} >= {{ period }} - 1 then
        {{ aggregate }} over (partition by {{ partition_by }} order by {{ order_by }} rows between {{ period - 1 }} preceding and current row)
    end
{%- endmacro %}

{#- A trailing-window aggregate over up to n rows, partial at the start of a series (Qlib). -#}
{% macro trailing(aggregate, period, partition_by='symbol', order_by='date') -%}
    {{ aggregate }} over (partition by {{ partition_by }} order by {{ order_by }} rows between {{ period - 1 }} preceding and current row)
{%- endmacro %}
