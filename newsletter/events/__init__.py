"""Provider events: what a provider (or the bounce mailbox) reports about sent emails.

``types`` holds the project's own :class:`~newsletter.events.types.ProviderEvent`;
``sendgrid`` translates SendGrid's signed Event Webhook into it; ``store`` keeps each event
once (idempotent inserts); ``effects`` applies what a new event changes (ledger outcomes,
bounced/complained/unsubscribed people); ``service`` ties them into one transaction.
Nothing here imports ``newsletter.web``.
"""
