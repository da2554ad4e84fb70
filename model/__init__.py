"""outsourcing-abm: an agent-based model of China's service-outsourcing industry moving inland."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("outsourcing-abm")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
