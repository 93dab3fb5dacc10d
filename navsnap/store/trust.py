"""Tamper-evident stores: the keyed MAC on manifests, tags and the store marker.

A store created with a key (``NAVSNAP_STORE_KEY``, or a key file named by
``NAVSNAP_STORE_KEY_FILE``, or ``open_store(key=...)``) is *signed*: its marker says so, and
the marker, every manifest and every tag carry a field ``"mac"``, the HMAC-SHA256 of::

    b"navsnap-mac-v1\\0" + <key of the file in the store> + b"\\0" + <canonical JSON>

where the canonical JSON is the document without its ``"mac"`` field, serialized with sorted
keys, no whitespace and UTF-8 (``json.dumps(doc, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``). The file's key is part of the MAC, so a signed manifest or tag copied
under another name does not verify. Objects need no MAC of their own: a signed manifest
records each object's xxh3-128 and size, and every object is checked against them.

Only :mod:`navsnap.store.repository` calls this module: it seals what it writes and opens
what it reads, so the manifest model knows nothing of keys. What a key protects and what it
does not is in ``docs/guarantees.md`` (Trust).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from navsnap.errors import IntegrityError, StoreError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MAC_FIELD",
    "MIN_KEY_BYTES",
    "Signer",
    "canonical",
    "key_from_env",
    "missing_key_hint",
]

KEY_ENV = "NAVSNAP_STORE_KEY"
KEY_FILE_ENV = "NAVSNAP_STORE_KEY_FILE"
MAC_FIELD = "mac"
MIN_KEY_BYTES = 16
_PREFIX = "hmac-sha256:"
_DOMAIN = b"navsnap-mac-v1\0"


def missing_key_hint() -> str:
    return f"set {KEY_ENV} to the store's key, or {KEY_FILE_ENV} to a file holding it"


def _checked(key: bytes, source: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise StoreError(
            f"the store key from {source} is shorter than {MIN_KEY_BYTES} bytes",
            hint="use a long random key, e.g. the output of 'openssl rand -hex 32'",
        )
    return key


def key_from_env() -> bytes | None:
    """The store key from ``NAVSNAP_STORE_KEY`` (its UTF-8 bytes) or from the file named by
    ``NAVSNAP_STORE_KEY_FILE`` (its bytes, without a trailing newline); None when neither is
    set. The key itself never appears in a message."""
    value = os.environ.get(KEY_ENV)
    if value:
        return _checked(value.encode(), KEY_ENV)
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        return None
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise StoreError(
            f"cannot read the store key file named by {KEY_FILE_ENV} ({exc.strerror or exc})",
            hint=f"point {KEY_FILE_ENV} at a readable file",
        ) from None
    return _checked(data.rstrip(b"\r\n"), KEY_FILE_ENV)


def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes a MAC covers: ``doc`` without its ``mac``, sorted keys, no whitespace."""
    body = {k: v for k, v in doc.items() if k != MAC_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Signer:
    """Seals and opens the JSON documents of one signed store."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):  # bytes(12345) is 12,345 zero bytes
            raise TypeError(f"a store key is bytes, not {type(key).__name__}")
        self._key = _checked(bytes(key), "the key given")

    def __repr__(self) -> str:
        return "Signer(<key>)"

    def mac(self, path: str, doc: dict[str, Any]) -> str:
        # Imported here: a store without a key (and status) starts without OpenSSL.
        import hashlib
        import hmac

        digest = hmac.new(
            self._key, _DOMAIN + path.encode() + b"\0" + canonical(doc), hashlib.sha256
        ).hexdigest()
        return _PREFIX + digest

    def seal(self, path: str, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with its ``mac`` field for the file at ``path``."""
        return {**{k: v for k, v in doc.items() if k != MAC_FIELD}, MAC_FIELD: self.mac(path, doc)}

    def open(self, path: str, doc: dict[str, Any], *, what: str) -> dict[str, Any]:
        """``doc`` without its ``mac`` after checking it; IntegrityError naming ``path`` when
        the field is missing or does not match."""
        import hmac

        found = doc.get(MAC_FIELD)
        if found is None:
            raise IntegrityError(
                f"{what} {path} is not signed, but the store is",
                path=path,
                hint="it was not written with the store's key: someone without the key wrote it",
            )
        if not isinstance(found, str) or not hmac.compare_digest(
            found.encode(), self.mac(path, doc).encode()
        ):
            raise IntegrityError(
                f"{what} {path} has a wrong signature",
                path=path,
                hint="it was altered, or written with another key; check the store key",
            )
        return {k: v for k, v in doc.items() if k != MAC_FIELD}
