"""What may go into an email header: one line of visible text.

One policy for every place a header value is made or checked: issue front matter
(``newsletter.issues``), settings (``newsletter.settings``) and the messages every backend
builds (``newsletter.delivery.message``). CR and LF end a header and start another
(``Bcc:``); NUL and the other C0/C1 controls are invisible or cut a value short;
U+2028/U+2029 are line breaks to some parsers. Tab too: no value we send needs one.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def unsafe_in_header(value: str) -> str | None:
    """The first character of ``value`` no header may carry (as ``U+000A``), or None."""
    if value.isprintable():  # the fast path: printable text has none of them
        return None
    match = _UNSAFE.search(value)
    return f"U+{ord(match[0]):04X}" if match else None
