"""``tailmerge serve`` and ``follow --serve``: the merged stream live in a browser (the ``web`` extra).

This package's top imports nothing: the parser takes its defaults from here."""

EXTRA = "tailmerge serve needs the web extra: pip install 'tailmerge[web]'"
DEFAULT_PORT = 8023
DEFAULT_HISTORY = 5000  # lines a page gets when it connects
DEFAULT_MAX_VIEWERS = 32

__all__ = ["DEFAULT_HISTORY", "DEFAULT_MAX_VIEWERS", "DEFAULT_PORT", "EXTRA"]
