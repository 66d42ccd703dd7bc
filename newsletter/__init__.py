"""A self-hosted email newsletter delivery service: issues, rendering, delivery, scheduling, web."""

__version__ = "0.1.0"
