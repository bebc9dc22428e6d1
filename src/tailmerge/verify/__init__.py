"""``tailmerge verify``: proof that a merged output holds every input line exactly once, in order."""

from .check import DEFAULT_BUDGET, Verdict, read_lines, verify

__all__ = ["DEFAULT_BUDGET", "Verdict", "read_lines", "verify"]
