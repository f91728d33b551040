"""Panorama Top: a live terminal monitor for scientific workflows."""

__version__ = "0.1.0"
