"""Short labels for Meta's tappable choices: WhatsApp buttons and list rows, Messenger quick replies."""

from __future__ import annotations

import unicodedata

# Characters that only make sense joined to the one after them: cutting right after one would
# leave half an emoji (zero-width joiner, text/emoji variation selectors).
_JOINERS = "\u200d\ufe0e\ufe0f"


def fit_title(text: str, limit: int) -> str:
    """Shorten a label to at most ``limit`` characters for a button, row or quick reply.

    Whitespace runs become one space and the text is normalised to NFC first (a decomposed "é"
    counts as one character, as on the phone); when cut, it ends in "…" and never in a dangling
    joiner, variation selector or combining mark, so an emoji or an accented letter is not left
    half-drawn.
    """
    value = " ".join(unicodedata.normalize("NFC", text or "").split())
    if len(value) <= limit:
        return value
    cut = value[:max(limit - 1, 0)]
    while cut and (cut[-1].isspace() or unicodedata.combining(cut[-1]) or cut[-1] in _JOINERS):
        cut = cut[:-1]
    return f"{cut}…"
