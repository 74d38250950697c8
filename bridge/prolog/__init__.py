"""The second engine: SWI-Prolog, over the same rules.

Translation of the ASP rules to Prolog from clingo's AST (translate.py), the
prover (prove.pl), the engine that runs it on one thread of its own
(engine.py), and proof trees in the analyst's words (tree.py). pyswip is
imported only when a proof or a cross-check is asked for.

May import: solving, loading, model.
"""
