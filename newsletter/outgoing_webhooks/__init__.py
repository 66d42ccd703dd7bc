"""Outgoing webhooks, signed per Standard Webhooks (docs/api.md, "Outgoing webhooks").

Nothing is imported here (the CLI reads :mod:`.kinds` for its help text).
"""
