"""What a batch run is asked to do: one typed value, handed to every worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from policykb.bridge.model.formats import RecordFormat

if TYPE_CHECKING:
    from policykb.bridge.batch.evaluator import BatchEvaluator

MAX_JOBS = 64  # worker processes at most (--jobs)


@dataclass(frozen=True)
class BatchSettings:
    """The settings of a batch run (picklable: worker processes receive it)."""

    kb_dirs: tuple[str, ...] = ()
    explain: bool = True
    output: RecordFormat = RecordFormat.JSONL
    policy: str | None = None
    as_of: date | None = None
    """Decide every case under the version in force on this day (--as-of),
    whatever its date_of_service."""
    spool: str | None = None
    """A folder where worker processes write each chunk's JSONL or CSV
    output, for run_batch to copy into the target in order (set by run_batch):
    the records then never pass through the pool's pipes."""

    def worker(self) -> BatchEvaluator:
        """What evaluates this run's chunks in one process."""
        from policykb.bridge.batch.evaluator import BatchEvaluator

        return BatchEvaluator(self)
