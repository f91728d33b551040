"""panorama-darshan: Darshan logs into darshan.perf events (darshan-parser --perf's figures)."""

from .collector import main

__all__ = ["main"]
