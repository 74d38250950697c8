"""Rendering evaluations for people: plain text, Markdown and JSON."""
