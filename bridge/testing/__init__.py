"""Case tests written by analysts: YAML suites and the pytest plugin.

Loading and running suites (suite.py); the plugin that makes `pytest`
collect test_*.yaml files (pytest_plugin.py, entry point pytest11).

May import: knowledge_base and everything below it.
"""
