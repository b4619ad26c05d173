"""The one exception type that patchgen raises for bad input."""


class PatchgenError(ValueError):
    """Bad input from the user: the message is one line naming the problem and the fix.

    The CLI prints it without a traceback and exits with status 2.
    """


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none (EOFError)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
