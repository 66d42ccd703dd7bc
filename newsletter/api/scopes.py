"""The scopes an API key can carry (import-light: the CLI's help text reads them)."""

SCOPES = (
    "subscribers:read",
    "subscribers:write",
    "issues:read",
    "issues:write",
    "sends:read",
    "stats:read",
)
