"""The root of the errors a user can fix: bad input files, bad arguments, bad configs.

The command line turns any :class:`UserInputError` into one line on stderr and exit code 2 (argparse's
convention for usage errors), and shows the traceback only with ``wsol --debug ...`` or ``WSOL_DEBUG=1``.
Anything else is a bug and keeps its traceback. Messages name the file (and line) or the field at fault and
say what was expected.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Input the user can correct; the message is the whole story, so no traceback is shown."""
