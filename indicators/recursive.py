"""TA-Lib's recursive averages over many series at once, exactly as TA-Lib recurses.

An average of period n with smoothing factor alpha is seeded at position s (usually n - 1)
with the mean of the n values ending there (EMA, Wilder's smoothing), or with the sum of
the n - 1 values ending there (Wilder's running sums of DM and TR in ADX), and continues as

    e[p] = gain * x[p] + (1 - alpha) * e[p - 1]

with gain = alpha for an average and 1 for a running sum. An incremental run does not need
a series' history: it continues from the value stored on its last bar (the anchor).

The series are laid out side by side, one column each, so the recursion is one numpy step
per position for all series together instead of a Python loop per value.
"""

from __future__ import annotations

import numpy as np


def recursive_average(
    values: np.ndarray,
    lengths: np.ndarray,
    first_position: np.ndarray,
    *,
    alpha: np.ndarray,
    seed_at: np.ndarray,
    seed_rows: np.ndarray,
    running_sum: np.ndarray,
    anchor_position: np.ndarray,
    anchor_value: np.ndarray,
) -> np.ndarray:
    """The recursive average of each series in `values`.

    values:          the series concatenated (NaN where a value is missing)
    lengths:         the number of values of each series
    first_position:  the position (bar index) of each series' first value
    alpha:           the smoothing factor of each series' average
    seed_at:         the position where the average starts when there is no anchor
    seed_rows:       how many values ending at seed_at make the seed
    running_sum:     true for Wilder's running sums: the seed is their sum, the gain is 1
    anchor_position: where a stored average continues from (NaN: no anchor)
    anchor_value:    the average stored there (NaN: no anchor, start from the seed)

    Every argument but `values` holds one entry per series. Returns the averages,
    concatenated like `values`: NaN before a series' start, and for the whole series when
    its seed's values are not all present.
    """
    n_series = len(lengths)
    lengths = lengths.astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    gain = np.where(running_sum, 1.0, alpha)
    decay = 1.0 - alpha

    anchored = ~np.isnan(anchor_position) & ~np.isnan(anchor_value)
    start_position = np.where(anchored, anchor_position, seed_at)
    start = (start_position - first_position).astype(np.int64)  # index in the series
    starting = np.flatnonzero((start >= 0) & (start < lengths))
    initial = np.full(n_series, np.nan)
    for series in starting:
        if anchored[series]:
            initial[series] = anchor_value[series]
            continue
        first_seed = start[series] - seed_rows[series] + 1
        if first_seed < 0:
            continue  # the series does not reach back to its seed's first value
        seed = values[offsets[series] + first_seed : offsets[series] + start[series] + 1]
        initial[series] = seed.sum() if running_sum[series] else seed.mean()

    # position-major matrix: row t holds the t-th value of every series (NaN past its end)
    width = int(lengths.max(initial=0))
    index_in_series = np.arange(len(values)) - np.repeat(offsets[:-1], lengths)
    series_of_value = np.repeat(np.arange(n_series), lengths)
    matrix = np.full((width, n_series), np.nan)
    matrix[index_in_series, series_of_value] = values

    averages = np.full((width, n_series), np.nan)
    averages[start[starting], starting] = initial[starting]
    for t in range(1, width):
        step = gain * matrix[t] + decay * averages[t - 1]
        np.copyto(averages[t], step, where=start < t)
    return averages[index_in_series, series_of_value]
