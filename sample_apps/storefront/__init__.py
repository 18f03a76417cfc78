"""A deployable project: its own requirements.txt builds the image that serves it."""
