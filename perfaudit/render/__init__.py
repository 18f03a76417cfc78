"""Renderers take a Report and a stream (or a path) and never re-run analysis."""
