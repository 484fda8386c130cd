"""Governance: PII redaction before anything is stored; users, roles, keys, the audit log.

The redaction names load on first use: the account and key commands need none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ArrayRedaction",
    "CustomPattern",
    "PiiKind",
    "PiiSpan",
    "RedactionPolicy",
    "RedactionResult",
    "Redactor",
]

if TYPE_CHECKING:
    from daytwo.governance.pii_patterns import PiiKind
    from daytwo.governance.redact import (
        ArrayRedaction,
        CustomPattern,
        PiiSpan,
        RedactionPolicy,
        RedactionResult,
        Redactor,
    )


def __getattr__(name: str) -> Any:
    if name == "PiiKind":
        from daytwo.governance import pii_patterns

        return pii_patterns.PiiKind
    if name in __all__:
        from daytwo.governance import redact

        return getattr(redact, name)
    raise AttributeError(f"module 'daytwo.governance' has no attribute {name!r}")
