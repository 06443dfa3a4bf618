"""Notebook views of a run: the ipywidgets dashboard and the plain-text fallback."""
