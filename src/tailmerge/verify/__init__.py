"""``tailmerge verify``: proof that a merged output holds every input line exactly once, in order."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .check import Verdict, expand_inputs, read_lines, verify
    from .defaults import DEFAULT_BUDGET, VERIFY_FORMATS

__all__ = ["DEFAULT_BUDGET", "VERIFY_FORMATS", "Verdict", "expand_inputs", "read_lines", "verify"]

if not TYPE_CHECKING:  # the checker only when something is verified
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(("Verdict", "expand_inputs", "read_lines", "verify"), ".check"),
            **dict.fromkeys(("DEFAULT_BUDGET", "VERIFY_FORMATS"), ".defaults"),
        },
    )
