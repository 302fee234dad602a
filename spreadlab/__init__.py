"""SpreadLab: news of an offline event spreading through a network of agents, and the SI models
that explain it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spreadlab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0+src"
