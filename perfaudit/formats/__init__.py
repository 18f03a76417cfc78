"""Standard profile formats other tools open: read and write."""
