"""Office-market rule as a pure function: how the private market adds SO office space."""

from __future__ import annotations

import numpy as np


def office_market(capacity: np.ndarray, occupancy: np.ndarray, p) -> np.ndarray:
    """Market office seats for SO firms next quarter: ``office_build_rate`` more where SO occupancy
    is above ``office_build_occupancy``."""
    return capacity * (1.0 + p.office_build_rate * (occupancy > p.office_build_occupancy))
