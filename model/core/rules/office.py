"""Office-market rules as pure functions: how the private market adds SO office space, and what
scarce space costs."""

from __future__ import annotations

import numpy as np


def office_market(capacity: np.ndarray, occupancy: np.ndarray, p) -> np.ndarray:
    """Market office seats for SO firms next quarter: ``office_build_rate`` more where SO occupancy
    is above ``office_build_occupancy``."""
    return capacity * (1.0 + p.office_build_rate * (occupancy > p.office_build_occupancy))


def scarcity_premium(occupancy: np.ndarray, p) -> np.ndarray:
    """Rent multiple where SO occupancy is above ``office_build_occupancy``:
    (occupancy / office_build_occupancy)^(office_scarcity_elasticity x rent_gap_scale), 1 elsewhere
    (rent_gap_scale = 0 knocks scarcity out with the rest of the rent gap). Space runs short
    through its price, not by turning firms away: beyond the purpose-built stock firms lease
    converted or grade-A space at a premium."""
    return ((np.maximum(occupancy, p.office_build_occupancy) / p.office_build_occupancy)
            ** (p.office_scarcity_elasticity * p.rent_gap_scale))
