"""Provenance: keyed watermarks on served responses, and a test of whether a suspect model learned them.

:mod:`.watermark` marks text (:class:`Watermarker`), :mod:`.detect` tests texts against a key or a list
of candidate accounts, :mod:`.pairs` is the table of meaning-preserving alternations both use.
"""

from distillguard.provenance.detect import AccountTest, Detection, detect, detect_accounts, observe
from distillguard.provenance.watermark import MarkResult, Watermarker, account_key

__all__ = [
    "AccountTest",
    "Detection",
    "MarkResult",
    "Watermarker",
    "account_key",
    "detect",
    "detect_accounts",
    "observe",
]
