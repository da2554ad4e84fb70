"""Every run seed of the study layer, derived from a root seed with numpy's SeedSequence.

* sweeps: run (p, r) of a design gets child r of child p of ``SeedSequence(root_seed)``
  (``design_seeds``), so its seed depends only on its place in the design;
* validation, forecasts and the calibration's rescoring: ``n`` children of one root
  (``seeds_from``);
* calibration particles: children of (root seed, a hash of the particle's values)
  (``particle_seeds``), so a particle gives the same result on any worker.

All seeds are below 2^32, so any run can be repeated alone with ``outsourcing-abm run --seed``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

SEEDING = {
    False: ("seed of run (p, r) = SeedSequence(root_seed).spawn(points)[p].spawn(replications)[r]"
            ".generate_state(1, uint32)[0]"),
    True: ("seed of run (p, r) = SeedSequence(root_seed).spawn(1)[0].spawn(replications)[r]"
           ".generate_state(1, uint32)[0], the same for every point"),
}


def design_seeds(root_seed: int, n_points: int, replications: int, crn: bool = False) -> np.ndarray:
    """Seeds from ``SeedSequence(root_seed).spawn``: child ``r`` of child ``p`` of the root.

    Spawned children are numbered, so a run's seed depends only on (p, r), not on how many
    points or replications the design has. With ``crn`` every point uses point 0's seeds."""
    root = np.random.SeedSequence(root_seed)
    out = np.empty((n_points, replications), dtype=np.int64)
    if n_points == 0:
        return out
    # spawn() is stateful (it counts children), so each SeedSequence is spawned from exactly once
    for p, child in enumerate(root.spawn(1 if crn else n_points)):
        for r, ss in enumerate(child.spawn(replications)):
            out[p, r] = int(ss.generate_state(1, np.uint32)[0])  # 0..2^32-1, as `run --seed` takes
    if crn:
        out[1:] = out[0]
    return out


def seeds_from(root: int | list[int], n: int) -> list[int]:
    """``n`` independent run seeds from the entropy ``root`` (numpy SeedSequence children)."""
    return [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(root).spawn(n)]


def particle_seeds(theta: dict[str, float], root_seed: int, n: int) -> list[int]:
    """Seeds for one calibration particle: a function of its parameter values and the root seed
    only, so a particle gives the same simulated targets on any worker."""
    key = json.dumps({k: float(theta[k]) for k in sorted(theta)}, sort_keys=True).encode()
    entropy = int.from_bytes(hashlib.sha256(key).digest()[:8], "little")
    return seeds_from([root_seed, entropy], n)
