"""samdata: a local-first training-data system for a personal assistant."""

__version__ = "0.1.0"
