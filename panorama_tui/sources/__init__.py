"""Sources: things that produce raw records for the ingest thread."""

from .base import RESET, Source, SourceStatus

__all__ = ["RESET", "Source", "SourceStatus"]
