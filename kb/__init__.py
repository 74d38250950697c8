"""The policy knowledge base: core ASP logic and one folder per policy."""
