"""The store key, keyed hashes of matched values, and masked previews.

A finding never carries the raw matched text unless the user opted in (`--store-matches`):
it carries `match_hash` (HMAC-SHA256 under the store's 32-byte key, so the same value joins
across runs and files of one store) and `preview` (the value with most characters masked).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(store_dir: Path) -> bytes:
    """Return the store's HMAC key, creating it (mode 0600) on first use."""
    path = Path(store_dir) / "key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ValueError(f"store key {path} is corrupt ({len(key)} bytes, expected {KEY_BYTES})")
        return key
    key = os.urandom(KEY_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def mask(value: str, keep: int = 2, max_len: int = 48) -> str:
    """Mask a value for display: at most `keep` leading and `keep` trailing characters stay.

    Separators (anything not alphanumeric, e.g. ``@ . - /`` and spaces) stay in place so the
    shape of the value is readable; every other character becomes ``*``. Short values keep
    fewer characters (an eighth of their alphanumerics on each side at most), so a preview
    never gives away much of a value: ``john.doe@example.com`` -> ``jo**.***@*******.*om``,
    an 8-character password keeps 1 + 1. Previews longer than `max_len` (a PEM block) keep
    their two ends and state the length in the middle.
    """
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    n = len(positions)
    k = min(keep, n // 8)
    shown = set(positions[:k]) | set(positions[n - k :] if k else [])
    out = "".join(ch if (i in shown or not ch.isalnum()) else "*" for i, ch in enumerate(value))
    if len(out) > max_len:
        out = out[:20] + f"...({len(value)} chars)..." + out[-20:]
    return out
