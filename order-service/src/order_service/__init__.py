"""order-service: the shop platform's HTTP edge; it owns orders."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("order-service")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
