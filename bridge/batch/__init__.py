"""Batch evaluation of many cases, streamed.

Reading chunks of JSONL, CSV or JSON-array records (readers.py), records as
case documents (records.py), the typed settings of a run (settings.py),
compiled policies and a result cache (evaluator.py), output records and
counts (output.py), and worker processes that keep input order
(runner.py).

May import: knowledge_base and everything below it.
"""
