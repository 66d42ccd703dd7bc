"""The subscriber store: people, the newsletters they follow, consent, tokens, import/export.

This package never imports ``newsletter``; ``newsletter`` depends on it.
"""
