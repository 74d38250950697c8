"""Loading: from files and raw data to the model.

Finding policies (files.py), parsing program files (parsing.py), reading a
policy's declarations with the file and line of a wrong one
(declarations.py), what each rule defines and reads (rules.py), and
reading and validating cases from JSON, YAML and CSV (case.py,
yaml_reader.py).

May import: model; clingo (parsing only, never solving), PyYAML.
"""
