"""Analyses of a whole policy over every scenario: `check` and `diff`.

The policy's own rules, numbered (policy_rules.py); consistency findings
with minimal witnesses (check.py); the regions of scenarios two versions
decide differently (diff.py). Their questions are kb/meta/check.lp and
kb/meta/diff.lp.

May import: solving, loading, model.
"""
