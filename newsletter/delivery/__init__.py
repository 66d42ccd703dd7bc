"""Delivery: backends behind one interface, the send ledger, retries, rate limits, resume."""
