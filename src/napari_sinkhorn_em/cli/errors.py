"""How the command reports a problem: one sentence, exit status 2."""

from __future__ import annotations


class CommandError(Exception):
    """A problem with the arguments or inputs, reported as one sentence with exit status 2."""


def sentence(error: BaseException) -> str:
    """The error as the end of a sentence for the user (what to do about too little memory).

    Parameters
    ----------
    error : BaseException
        What went wrong.

    Returns
    -------
    str
    """
    if isinstance(error, MemoryError):
        return "not enough memory; try a smaller --sample-size or fewer features"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return str(error)
