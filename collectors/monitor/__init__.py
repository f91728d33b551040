"""panorama-monitor: runs a command and samples its process tree from /proc, as kickstart does."""

from .wrapper import main

__all__ = ["main"]
