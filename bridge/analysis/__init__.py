"""Analyses of a whole policy over every scenario: `check` and `diff`.

The policy's own rules, numbered (policy_rules.py); consistency findings
with minimal witnesses (check.py gathers them: findings.py is what a finding
is, checker.py the check program and its questions, vocabulary.py,
clauses.py, range_gaps.py and versions.py findings of their own kind); the
regions of scenarios two versions decide differently (diff.py). Their
questions are kb/meta/check.lp and kb/meta/diff.lp.

May import: solving, loading, model.
"""
