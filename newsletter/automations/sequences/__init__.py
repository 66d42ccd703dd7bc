"""Welcome sequences: ``sequences/NEWSLETTER/NN-slug.md`` steps each reader walks once, in order.

    files.py    step files: the issue front matter plus ``after:`` (and ``backfill:``)
    models.py   sequence_steps: each step as first seen, with its send in the ledger
    store.py    every query: steps, due readers (set-based), dashboard counts
    service.py  sync_steps (files → table), walk (enqueue what fell due, send it), welcome rule
    render.py   a step rendered once per run (the delivery engine's renderer for step sends)
    report.py   what ``sequences list|show`` and the dashboard show

See docs/automations.md, "Sequences".
"""
