"""Automations (docs/automations.md): welcome sequences, issues from feeds, the sunset."""
