"""Packages of the wheel. Everything else is declared in pyproject.toml.

Only this cannot be said in pyproject.toml: the committed ``experiments/`` folder (scenarios,
sweep designs, targets, calibration records) is shipped as the package data folder
``model/experiments``, so that an installed ``outsourcing-abm run baseline`` finds its scenario
from any folder (``model/cli/paths.py`` looks there when there is no checkout).
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["model", "model.*"], exclude=["*.__pycache__"]), "model.experiments"],
    package_dir={"model.experiments": "experiments"},
)
