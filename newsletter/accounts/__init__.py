"""Editors' accounts: people who log in to the dashboard, their roles, passwords, second
factor and login throttling (docs/admin.md, "Accounts").

``models`` (tables), ``store`` (all their SQL), ``passwords`` (Argon2id), ``links``
(signed one-time set-password links), ``throttle`` (the exponential delay rule),
``totp`` (pyotp and recovery codes), ``service`` (what the CLI and the dashboard call).
"""
