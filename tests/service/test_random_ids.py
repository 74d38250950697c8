"""The buffered random UUIDs: version 4 and RFC 4122 variant, unique across
buffer refills and threads, and a forked child never repeats its parent's."""

from __future__ import annotations

import os
import threading
import uuid

from policykb.service import random_ids
from tests.sampling import knob

PER_BLOCK = random_ids.BLOCK // 16


def test_ids_are_version_4_rfc_4122_and_unique_across_refills() -> None:
    count = knob("POLICYKB_RANDOM_IDS", 40 * PER_BLOCK, at_least=3 * PER_BLOCK)
    ids = [
        uuid.UUID(random_ids.uuid4_hex() if n % 2 else random_ids.uuid4_str()) for n in range(count)
    ]
    texts = [random_ids.uuid4_str() for _ in range(PER_BLOCK)]
    assert all(str(uuid.UUID(text)) == text for text in texts)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == count
    # every block is fresh randomness: no 16 bytes repeat, not even the version-free part
    assert len({i.int & ~(0xF << 76) for i in ids}) == count


def test_threads_never_share_an_id() -> None:
    per_thread = 2 * PER_BLOCK + 7
    found: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(uuid.UUID(random_ids.uuid4_hex()) for _ in range(per_thread))

    threads = [threading.Thread(target=make, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in found for i in ids]
    assert len(every) == len(set(every)) == 4 * per_thread


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    random_ids.uuid4_hex()  # the buffer holds unissued ids when the process forks
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next ids, to the parent
        try:
            os.close(reading)
            os.write(writing, "".join(random_ids.uuid4_hex() for _ in range(PER_BLOCK)).encode())
        finally:
            os._exit(0)
    os.close(writing)
    received = b""
    while chunk := os.read(reading, 65536):
        received += chunk
    os.close(reading)
    os.waitpid(child, 0)
    children = {received[at : at + 32].decode() for at in range(0, len(received), 32)}
    parents = {random_ids.uuid4_hex() for _ in range(PER_BLOCK)}
    assert len(children) == PER_BLOCK
    assert not children & parents
