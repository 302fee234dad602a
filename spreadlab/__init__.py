"""SpreadLab: news of an offline event spreading through a network of agents, and the SI models
that explain it."""

__version__ = "0.1.0"
