"""Tools that work on the repository rather than ship in the package."""
