"""Random (version 4) UUIDs from a buffer of the OS's randomness.

`uuid.uuid4()` asks the OS for 16 bytes on every call (one system call
each); a CRD answer makes several ids, and those calls were a measurable
share of the server's CPU. Here one `os.urandom(BLOCK)` is sliced into ids
and read again once used up: each id is still 122 bits from the OS's
cryptographic source, never reused, so ids stay unguessable and unique.

Thread-safe (a lock around the slice). A forked child forgets the buffer it
inherited (os.register_at_fork), so it never hands out its parent's next
ids.
"""

from __future__ import annotations

import os
import threading

BLOCK = 4096
"""Bytes read from the OS at once: 256 ids."""
_SIZE = 16
_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)
"""The version (4) and variant (RFC 4122, binary 10) bits, as uuid.UUID sets them."""


class _Buffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data = b""
        self.used = 0

    def take(self) -> bytes:
        with self.lock:
            if self.used + _SIZE > len(self.data):
                self.data, self.used = os.urandom(BLOCK), 0
            start = self.used
            self.used = start + _SIZE
            return self.data[start : start + _SIZE]


_buffer = _Buffer()


def _forget_after_fork() -> None:
    """In a forked child: a fresh buffer (and lock: another thread of the
    parent may have held it), so no id of the parent's buffer is repeated."""
    global _buffer
    _buffer = _Buffer()


os.register_at_fork(after_in_child=_forget_after_fork)


def uuid4_hex() -> str:
    """A random UUID's 32 hex digits, as `uuid.uuid4().hex` (without making
    the UUID object, most of the cost of one once the bytes are at hand)."""
    return "%032x" % (int.from_bytes(_buffer.take()) & _KEEP | _VERSION_4)


def uuid4_str() -> str:
    """A random UUID in its hyphenated form, as `str(uuid.uuid4())`."""
    digits = uuid4_hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
