"""panorama-globus: Globus transfer tasks into transfer.inv.go events."""

from .collector import main

__all__ = ["main"]
