"""Engagement, honestly measured: tracked links, hits judged person or machine, reports.

See docs/tracking.md. ``tokens`` (signed link tokens), ``providers`` (mailbox provider by
domain), ``rewrite`` + ``service`` (a send's links, rendered once, personalized by
substitution), ``routes`` + ``recorder`` (the redirect and the batched hits), ``classify``
(person or machine, with the reason), ``report`` (the figures), ``store`` (all the SQL).
"""
