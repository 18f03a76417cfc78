"""Small FastAPI apps, each with one planted bottleneck (or none: clean.py)."""
