"""The one exception type that patchgen raises for bad input."""


class PatchgenError(ValueError):
    """Bad input from the user: the message is one line naming the problem and the fix.

    The CLI prints it without a traceback and exits with status 2.
    """
