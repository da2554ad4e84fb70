"""Calendar time of the model: one step is one quarter.

Quarters (not months) because the slowest decisions the sources describe, firm set-up (4 months
to sign + 10 days, fact nj_setup_time) and annual graduate cohorts, are resolved well by quarters,
and a 2005-2030 run stays 104 steps. Step 0 is the initial state; step k (k >= 1) simulates quarter
((k - 1) mod 4) + 1 of year start_year + (k - 1) // 4.
"""

from __future__ import annotations

STEPS_PER_YEAR = 4
MONTHS_PER_QUARTER = 3.0
MONTHS_PER_YEAR = 12.0
MINUTES_PER_HOUR = 60.0


def n_steps(start_year: int, end_year: int) -> int:
    """Steps of a run from the first quarter of ``start_year`` to the last of ``end_year``."""
    return (end_year - start_year + 1) * STEPS_PER_YEAR


def year_of_step(step, start_year: int):
    """Calendar year simulated by step ``step`` (>= 1); works on arrays too."""
    return start_year + (step - 1) // STEPS_PER_YEAR


def quarter_of_step(step) -> int:
    """Quarter (1-4) simulated by step ``step`` (>= 1)."""
    return (step - 1) % STEPS_PER_YEAR + 1


def mid_quarter(year: int, quarter: int) -> float:
    """Calendar time at the middle of a quarter (years)."""
    return year + (quarter - 0.5) / STEPS_PER_YEAR


def quarter_label(step: int, start_year: int) -> str:
    """'2012 Q3' for a simulated step, 'start of 2005' for the initial state."""
    if step <= 0:
        return f"start of {start_year}"
    return f"{year_of_step(step, start_year)} Q{quarter_of_step(step)}"
