"""Renderers: each turns a ``Derivation`` into text through a Jinja template. None re-derives."""
