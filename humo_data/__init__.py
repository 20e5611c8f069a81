"""humo-data: curation pipeline and compact two-stage trainer for HuMo-style human video data."""

__version__ = "0.1.0"
