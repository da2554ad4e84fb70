"""Observed points from the source articles (../shared/facts/seed_facts.yaml), for plots.

The full target list with tolerances lives in experiments/targets.toml; these are the
Neijiang points drawn on every run's figure.
"""

NEIJIANG_POINTS = {
    "firms": [{"year": 2021, "value": 33, "label": "33 firms of size, 2021 (nj_firms_2021)"}],
    "employment": [
        {"year": 2021, "value": 4500, "label": "park staff 4,500, 2021 (lower bound of city)"},
        {"year": 2023, "value": 7000, "label": "park staff 7,000, 2023-05 (lower bound)"},
    ],
    "output_cny": [
        {"year": 2020, "value": 8.9e8, "label": "8.9e8 CNY, 2020 (nj_volume_2020)"},
        {"year": 2022, "value": 1.23e9, "label": "1.23e9 CNY, 2022 (dx_execution_2022 / 0.829)"},
    ],
    "wage_ratio": [{"year": 2021, "value": 0.75, "range": (0.70, 0.80), "label": "0.70-0.80, 2021"}],
}
