"""Governance: PII redaction before anything is stored."""

from daytwo.governance.pii_patterns import PiiKind
from daytwo.governance.redact import (
    ArrayRedaction,
    CustomPattern,
    PiiSpan,
    RedactionPolicy,
    RedactionResult,
    Redactor,
)

__all__ = [
    "ArrayRedaction",
    "CustomPattern",
    "PiiKind",
    "PiiSpan",
    "RedactionPolicy",
    "RedactionResult",
    "Redactor",
]
