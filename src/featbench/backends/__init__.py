"""Backends: one module per store behind the Protocol in `base`."""

from featbench.backends.base import Backend, RequestResult, Session, open_backend

__all__ = ["Backend", "RequestResult", "Session", "open_backend"]
