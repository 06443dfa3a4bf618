"""Notebook views of a run: the widget run view, its static HTML form and the plain-text fallback."""
