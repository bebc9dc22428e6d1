"""``tailmerge verify``: proof that a merged output holds every input line exactly once, in order."""

from .check import DEFAULT_BUDGET, VERIFY_FORMATS, Verdict, expand_inputs, read_lines, verify

__all__ = ["DEFAULT_BUDGET", "VERIFY_FORMATS", "Verdict", "expand_inputs", "read_lines", "verify"]
