"""The commands of `policykb`, one module per group; `policykb.cli.main` registers them."""
