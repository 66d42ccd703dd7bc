"""The sunset: a polite goodbye to readers who stopped reading (docs/automations.md).

``models`` (the episode ledger), ``store`` (all its SQL), ``judge`` (who is inactive: the
rule, read-only), ``service`` (the run: close, remove, ask; the yes answer), ``mail`` (the
"still want this?" email).
"""
