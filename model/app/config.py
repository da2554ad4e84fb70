"""Names of the environment variables through which ``outsourcing-abm serve`` configures the page.

A module of its own, importing nothing, so that ``serve`` can set them before Solara (which reads
its own settings when it is first imported) and the page are loaded.
"""

#: The scenario file the page starts with (its focus city is the page's default city).
SCENARIO_ENV = "OABM_SCENARIO"
#: The folder whose ``*.toml`` files the scenario menu lists (default: the start scenario's folder).
EXPERIMENTS_ENV = "OABM_EXPERIMENTS_DIR"
#: The targets file whose observed bands the charts draw (none when unset).
TARGETS_ENV = "OABM_TARGETS"
