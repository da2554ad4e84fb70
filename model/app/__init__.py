"""The browser page (Mesa SolaraViz): ``page`` (components), ``controls`` (sidebar and the model
it builds), ``figures`` (map and charts), ``serve`` (``outsourcing-abm serve``)."""
