"""Numbers formatted in Python (f-strings) shown in the active language: 1,234.5 in English, 1.234,5 in German.

Only for text people read: data attributes, JSON, CSV and URLs keep the machine-readable form.
"""
from __future__ import annotations

from django.utils import formats


def localize_digits(text: str) -> str:
    """Swap the decimal point and the thousands comma of an f-string number for the active language's."""
    decimal = formats.get_format("DECIMAL_SEPARATOR")
    thousands = formats.get_format("THOUSAND_SEPARATOR")
    if decimal == "." and thousands == ",":
        return text
    return text.translate(str.maketrans({".": decimal, ",": thousands}))
