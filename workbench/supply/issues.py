"""What a scan reports: one `Issue` per problem found in a file, and one `FileResult` per file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Severity -> the finding's score (0..1).
SEVERITY_SCORE = {"critical": 1.0, "high": 0.8, "medium": 0.5, "low": 0.3, "info": 0.1}
SEVERITY_ORDER = ["info", "low", "medium", "high", "critical"]

# Issue kinds (the findings' entity_type).
UNSAFE_GLOBAL = "UNSAFE_GLOBAL"  # a denied global: code execution, files, network, nested loaders
UNKNOWN_GLOBAL = "UNKNOWN_GLOBAL"  # a global outside the allowlist
UNRESOLVED_GLOBAL = "UNRESOLVED_GLOBAL"  # STACK_GLOBAL whose module/name are not literal strings
MISSING_MEMO = "MISSING_MEMO"  # GET of a memo key never PUT (scanner/loader disagreement)
EXTENSION_OPCODE = "EXTENSION_OPCODE"  # EXT1/2/4: a global from the copyreg registry
MALFORMED_PICKLE = "MALFORMED_PICKLE"  # a broken or truncated pickle stream
MALFORMED_HEADER = "MALFORMED_HEADER"  # a header that breaks its format's rules
DUPLICATE_KEY = "DUPLICATE_KEY"  # the same tensor / metadata key twice
PATH_TRAVERSAL = "PATH_TRAVERSAL"  # a path that leaves its directory (zip member, ONNX external data)
ZIP_TRICK = "ZIP_TRICK"  # flags, CRC, duplicate or mismatched names, polyglots
FORMAT_MISMATCH = "FORMAT_MISMATCH"  # the extension says one format, the bytes another
OBJECT_ARRAY = "OBJECT_ARRAY"  # a .npy object array: numpy's loader unpickles it when pickles are allowed
CHAT_TEMPLATE_CODE = "CHAT_TEMPLATE_CODE"  # a GGUF chat template that is more than formatting
LAMBDA_LAYER = "LAMBDA_LAYER"  # a Keras Lambda layer
MARSHALLED_CODE = "MARSHALLED_CODE"  # marshalled Python bytecode in a Keras config
UNSCANNABLE = "UNSCANNABLE"  # content that could not be looked into (unknown compression, limits)


@dataclass
class Issue:
    kind: str
    severity: str
    rule: str  # e.g. the global name `os.system`, or `safetensors.duplicate_key`
    member: str = ""  # container member ('' for the file itself); nested members joined by '!'
    start: int = 0  # byte offsets in the member (or file) when known
    end: int = 0
    value: str = ""  # the offending value (global name, key, path); hashed into match_hash
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return SEVERITY_SCORE[self.severity]


@dataclass
class FileResult:
    path: str
    size: int = 0
    mtime: float = 0.0
    sha256: str | None = None
    format: str = "unknown"
    issues: list[Issue] = field(default_factory=list)
    error: str | None = None  # the file could not be read at all
    members: list[str] = field(default_factory=list)

    @property
    def max_severity(self) -> str | None:
        if not self.issues:
            return None
        return max((i.severity for i in self.issues), key=SEVERITY_ORDER.index)
