"""Issues made from RSS/Atom feeds (``newsletter feeds``; docs/automations.md, "Feeds").

``service`` (what the CLI and ``serve`` call) → ``fetch`` (conditional GET) → ``parse``
(encodings, feedparser → :class:`~.parse.FeedItem`) → ``entries`` (the import rules, issue
files) over ``convert`` (HTML → sanitized Markdown); all SQL in ``store``, tables in ``models``.
"""
