"""The calibration record (``calibration.json``) and the texts made from it: the calibrated
scenario's header, the "## Calibration" sections of docs/performance.md and of the validation
report. One home for each sentence, so the three say the same thing.

The record has the one provenance schema of every output (``model.provenance.record``): the
commit is read from ``record["provenance"]["git"]``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..files import replace_section, write_text_atomic
from ..provenance import short_commit


def commit_of(record: dict[str, Any]) -> str:
    """``abc123def456[+dirty]`` of the code that made a record, "?" where it does not say."""
    prov = record.get("provenance")
    return short_commit(prov["git"]) if isinstance(prov, dict) and isinstance(prov.get("git"), dict) else "?"


def _misses(refinement: dict[str, Any]) -> str:
    """'fitted targets missed a to b, ' (refinements recorded before misses were ranked first: '')."""
    if "misses" not in refinement:
        return ""
    return f"fitted targets missed {refinement['start_misses']} to {refinement['misses']}, "


def refinements(point: dict[str, Any]) -> list[dict[str, Any]]:
    """Every refinement a point estimate went through, oldest first (the last is ``refinement``)."""
    return [*point.get("earlier_refinements", []), *([point["refinement"]] if "refinement" in point else [])]


def describe_point_estimate(point: dict[str, Any]) -> str:
    """How the point estimate was chosen, as one sentence (calibrated.toml, validation.md)."""
    text = point["method"] + (f"; chosen: {point['chosen']}." if "chosen" in point else ".")
    for move in point.get("hand_moves", []):  # set between refinements when the model changed under the estimate
        text += (f" After refinement {move['after_refinements']}, moved by hand to "
                 f"{', '.join(f'{k} = {v:g}' for k, v in move['set'].items())} ({move['why']}).")
    if "refinement" in point:
        r = point["refinement"]
        times = len(refinements(point))
        text += (f" Then refined by `outsourcing-abm refine`{f' {times} times, the last' if times > 1 else ''} "
                 f"({len(r['moves'])} moves, {_misses(r)}distance "
                 f"{r['start_distance']:.3g} to {r['distance']:.3g} over {len(r['seeds'])} common seeds).")
    return text


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights (particles)."""
    w = weights / weights.sum()
    return float(1.0 / np.sum(w ** 2))


#: Records made before the sampler was named in them used pyabc's importance-weighted ABC-SMC.
PYABC = "importance-weighted ABC-SMC (pyabc 0.13, Gaussian kernel {k:g}x Silverman's rule)"


def sampler_of(summary: dict[str, Any]) -> str:
    return summary.get("sampler") or PYABC.format(k=summary.get("kernel_scaling", 1.0))


def effective_particles(summary: dict[str, Any]) -> float:
    """Effective sample size of the final population's weights, and at most its distinct particles."""
    distinct = summary.get("distinct_particles") or [math.inf]
    return min(summary.get("effective_sample_size", 0.0), distinct[-1])


def is_degenerate(summary: dict[str, Any]) -> bool:
    """A final population worth under a tenth of its particles (weights or copies piled on a few)."""
    return effective_particles(summary) < 0.1 * summary["population"]


def _moves(summary: dict[str, Any]) -> str:
    if "moves" not in summary:
        return ""
    return (f"; each generation keeps {summary['keep_fraction']:.0%} of the particles and moves each refilled one by "
            f"{summary['moves']} random-walk steps ({summary['move_scaling']:g}x the optimal scale)")


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def write_calibrated(path: Path, summary: dict[str, Any], posterior_name: str = "posterior.csv") -> None:
    """The calibrated scenario: the point estimate, each value with its 90% posterior interval."""
    lines = [
        "# Point estimate of the free parameters, written by `outsourcing-abm calibrate`",
        f"# ({summary['model_runs']} model runs, {summary['wall_time_s']:.0f} s, commit {commit_of(summary)}).",
        f"# Point estimate: {describe_point_estimate(summary['point_estimate'])}",
        f"# Run with {' '.join(f'--set {o}' for o in summary.get('overrides') or []) or 'no --set'}, root seed "
        f"{summary.get('root_seed', '?')}; the rescoring seeds and every setting are in calibration.json.",
        f"# Comments give each parameter's 90% interval in the final ABC-SMC population ({posterior_name}).",
        "# baseline.toml and no_policy.toml inherit this file. Targets: experiments/targets.toml.",
        'name = "calibrated"',
        f'description = "ABC-SMC point estimate ({summary["population"]} particles, {summary["generations"]} generations, '
        f'{summary["seeds_per_particle"]} seeds each; final epsilon {summary["epsilons"][-1]:.3g})."',
        "",
    ]
    for k, v in summary["estimate"].items():
        lo, hi = summary["interval_90"][k]
        lines.append(f"{k} = {_sig(v)!r}   # 90%: {_sig(lo)} to {_sig(hi)}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def record_performance(summary: dict[str, Any], where: str, doc: Path) -> None:
    """The "## Calibration" section of ``doc`` (docs/performance.md): wall time and model runs."""
    runs, secs = summary["model_runs"], summary["wall_time_s"]
    python = (summary.get("provenance") or {}).get("python", "?")
    body = (f"Measured by `outsourcing-abm calibrate` (commit {commit_of(summary)}, "
            f"Python {python}, {where}): "
            f"{sampler_of(summary)}, {summary['population']} particles, {summary['generations']} generations after the "
            f"prior, {summary['seeds_per_particle']} seeds per particle{_moves(summary)}, at {summary['fixed']}.\n\n"
            f"| measure | value |\n|---|---|\n"
            f"| model runs | {runs} |\n| wall time | {secs:.0f} s ({secs / 60:.1f} min) |\n"
            f"| model runs per minute | {60 * runs / max(secs, 1e-9):.0f} |\n"
            f"| final tolerance (mean squared half-widths) | {summary['epsilons'][-1]:.3g} |\n"
            f"| effective particles of the final population (weights; distinct positions) | "
            f"{effective_particles(summary):.1f} |\n")
    point = summary.get("point_estimate", {})
    if "candidates" in point:
        body += (f"\nPoint estimate: {len(point['candidates'])} candidates rerun over {len(point['seeds'])} common seeds "
                 f"({len(point['candidates']) * len(point['seeds'])} more model runs, not counted above); "
                 f"chosen: {point['chosen']}.\n")
    done = refinements(point)
    for i, r in enumerate(done, 1):
        label = f"Refinement {i} of {len(done)}" if len(done) > 1 else "Refinement"
        body += (f"\n{label} (`outsourcing-abm refine`, commit {commit_of(r)}): "
                 f"{r['method']}; {r['model_runs']} model runs in {r['wall_time_s']:.0f} s; {_misses(r)}mean-target distance "
                 f"{r['start_distance']:.3g} to {r['distance']:.3g} in {len(r['moves'])} moves.\n")
    distinct = summary.get("distinct_particles")
    if distinct:
        body += (f"\nDistinct particles by generation: {', '.join(str(d) for d in distinct)} of {summary['population']}; "
                 f"MCMC move acceptance by generation: "
                 f"{', '.join(f'{a:.2f}' for a in summary.get('move_acceptance', []))}.\n")
    else:
        sizes = summary.get("effective_sample_sizes")
        if sizes:
            body += f"\nEffective sample size by generation: {', '.join(f'{e:.1f}' for e in sizes)}.\n"
    if is_degenerate(summary):
        cause = ("its MCMC moves were rarely accepted, so most particles are copies of a few; more moves per "
                 "generation or a smaller move scale would spread them" if distinct else
                 "its importance weights sit on a few particles, because the proposal, a Gaussian kernel density "
                 "estimated from about as many particles as there are free parameters, differs by orders of magnitude "
                 "between accepted particles")
        body += (f"\n**The final population is degenerate**: {cause}. The point estimate is then close to a single "
                 "accepted particle, the 90% intervals understate the uncertainty, and forecasts drawn from this "
                 "posterior carry little parameter uncertainty.\n")
    replace_section(doc, "## Calibration", body)


#: A posterior interval narrower than this share of its prior range counts as identified.
NARROW_SHARE = 0.6


def calibration_section(path: Path | None, convergence_png: str = "img/calibration_convergence.png") -> list[str]:
    """Markdown lines of the validation report on how the calibrated scenario was estimated."""
    try:
        c = json.loads(Path(path).read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        c = None
    if not isinstance(c, dict):
        return ["", "## Calibration", "", f"No calibration record ({path or 'calibration.json'}) found."]
    lines = ["", "## Calibration", "",
             f"{sampler_of(c)[0].upper()}{sampler_of(c)[1:]}, on Dask: {c['population']} particles, "
             f"{c['generations']} generations after the prior, "
             f"{c['seeds_per_particle']} seeds per particle, {c['model_runs']} model runs in {c['wall_time_s']:.0f} s "
             f"(commit {commit_of(c)}); effective particles of the final population "
             f"{effective_particles(c):.1f}; tolerance per generation: "
             + ", ".join(f"{e:.3g}" for e in c["epsilons"]) + f". Fixed for speed: {c.get('fixed', {})}."]
    if is_degenerate(c):
        lines += ["", f"The final population is degenerate ({effective_particles(c):.1f} effective particles "
                  f"of {c['population']}): the estimate is close to one "
                  "accepted particle and the intervals below understate the uncertainty (docs/performance.md)."]
    point = c.get("point_estimate", {"method": "weighted posterior median"})
    lines += ["", f"Point estimate (what `calibrated.toml` holds): {describe_point_estimate(point)}"
              + " Parameters not listed keep their defaults in `model/core/params.py` (their docstrings say why)."]
    median = c.get("posterior_median", c["estimate"])
    widths = {k: (c["interval_90"][k][1] - c["interval_90"][k][0]) / (c["priors"][k][1] - c["priors"][k][0])
              for k in c["estimate"]}
    narrow = sum(w < NARROW_SHARE for w in widths.values())
    verdict = ("but the population is degenerate, so a narrow interval here is the weight of one particle, "
               "not evidence that the targets identify the parameter" if is_degenerate(c) else
               "the others are weakly identified by the targets, and results that depend on them carry that "
               "uncertainty (the forecast and the backtest draw from the whole posterior)")
    lines += ["", f"{narrow} of {len(widths)} free parameters have a 90% posterior interval narrower than "
              f"{NARROW_SHARE:.0%} of their prior range (*width* below: interval over prior range); {verdict}.",
              "", "| parameter | prior | estimate | weighted posterior median | 90% posterior interval | width |",
              "|---|---|---|---|---|---|"]
    for k, v in c["estimate"].items():
        lo, hi = c["interval_90"][k]
        plo, phi = c["priors"][k]
        lines.append(f"| `{k}` | {plo:g} to {phi:g} | {v:.4g} | {median[k]:.4g} | {lo:.4g} to {hi:.4g} | "
                     f"{widths[k]:.0%} |")
    lines += ["", f"![calibration convergence]({convergence_png})"]
    return lines
