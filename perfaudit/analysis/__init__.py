"""From a Session to a Report: statistics, hotspots, and findings from the rule catalog.
Imports only the model."""
