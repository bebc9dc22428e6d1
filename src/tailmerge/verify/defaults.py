"""What the command line shows of ``verify`` (its formats and default budget) without importing it."""

__all__ = ["DEFAULT_BUDGET", "VERIFY_FORMATS"]

DEFAULT_BUDGET = 1_000_000  # choice points a search may open before it gives up
VERIFY_FORMATS = ("auto", "raw", "labeled", "jsonl", "headers")  # not FORMATS: a new one needs a reader here
