"""Collectors that watch the app while it is driven. They never import analysis or render."""
