"""The root of the errors a user can fix: bad input files, bad arguments, bad configs.

The command line turns any :class:`UserInputError` into one line on stderr and exit code 2 (argparse's
convention for usage errors), and shows the traceback only with ``wsol --debug ...`` or ``WSOL_DEBUG=1``.
Anything else is a bug and keeps its traceback. Messages name the file (and line) or the field at fault and
say what was expected.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Input the user can correct; the message is the whole story, so no traceback is shown."""


WORKER_MARK = "Original Traceback (most recent call last):"


def user_message(text: str) -> str:
    """The user's message of an error, without the worker traceback a ``DataLoader`` worker wraps around it.

    An exception raised in a worker process comes back as the same type whose message is ``Caught X in
    DataLoader worker process N.`` + the worker's whole traceback; its last line ``module.X: message`` holds
    what the user should read.
    """
    if WORKER_MARK not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    head, sep, tail = last.partition(": ")
    return tail if sep and " " not in head else last
