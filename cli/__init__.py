"""The policykb command line: a thin layer over policykb.bridge."""
