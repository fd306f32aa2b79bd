"""The ``wsol`` command: one subcommand per module of this package that defines ``main(argv)``.

``wsol train ...`` and ``python tools/train.py ...`` run the same ``wsol.cli.train.main``: ``tools/`` holds the
usual entry scripts of a training toolkit (train, evaluate, export), each a call of :func:`run`. The benchmarks are
scripts in ``tools/bench/`` run from a checkout, not subcommands; they report errors through :func:`run_main`.
A module ``wsol/cli/foo_bar.py`` becomes the subcommand ``foo-bar``; each module's docstring first line is
its help text.

Errors: a :class:`wsol.errors.UserInputError` (bad file, bad argument, bad config) or a ``SystemExit`` with a
message becomes one line ``wsol <command>: <message>`` on stderr and exit code 2; ``wsol --debug <command>``
or ``WSOL_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Sequence


def available_commands() -> dict[str, str]:
    """Subcommand name → module name, discovered from this package (modules starting with ``_`` are private)."""
    commands = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            commands[info.name.replace("_", "-")] = f"{__name__}.{info.name}"
    return dict(sorted(commands.items()))


def debug_enabled() -> bool:
    """Tracebacks are shown for user errors too (``wsol --debug`` sets this for the subcommand)."""
    return os.environ.get("WSOL_DEBUG", "") not in ("", "0")


def fail(prog: str, message: object) -> int:
    """Print the one-line error of a user mistake, ``<prog>: <message>``, and give argparse's usage-error code."""
    from wsol.errors import user_message

    text = " ".join(user_message(str(message)).split())  # one line, whatever the message's own line breaks
    prefix = f"{prog}: "
    print(text if text.startswith(prefix) or text.startswith("wsol ") else prefix + text, file=sys.stderr)
    return 2


def run_main(prog: str, main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)`` (``sys.argv[1:]`` when ``argv`` is None) with the command line's error convention.

    A :class:`wsol.errors.UserInputError` or ``SystemExit("message")`` becomes one line ``<prog>: <message>``
    and exit code 2 (with the traceback when :func:`debug_enabled`); ``main``'s return value is the exit code.
    """
    from wsol.errors import UserInputError

    try:
        result = main(list(sys.argv[1:] if argv is None else argv))
    except UserInputError as exc:
        if debug_enabled():
            traceback.print_exc()
        return fail(prog, exc)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # raise SystemExit("message"): a user error worded by the command
            if debug_enabled():
                traceback.print_exc()
            return fail(prog, exc.code)
        return int(exc.code or 0)
    return int(result or 0)


def run(command: str, argv: Sequence[str] | None = None) -> int:
    """Run one subcommand with its own arguments (``sys.argv[1:]`` when ``argv`` is None)."""
    commands = available_commands()
    if command not in commands:
        print(f"wsol: unknown command {command!r}; known: {', '.join(commands)}", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[command])
    return run_main(f"wsol {command}", module.main, argv)


def _summary(module_name: str) -> str:
    spec = importlib.util.find_spec(module_name)
    try:
        with open(spec.origin, encoding="utf-8") as f:  # read the docstring without importing torch
            text = f.read(2000)
        start = text.index('"""') + 3
        return text[start:].split("\n", 1)[0].strip().rstrip(".")
    except (OSError, ValueError, AttributeError, TypeError):
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = available_commands()
    if not argv or argv[0] in ("-h", "--help", "help"):
        width = max(map(len, commands), default=0)
        lines = [
            "usage: wsol [--debug] <command> [options]   (wsol <command> --help for its options)",
            "",
            "--debug shows tracebacks of input errors (also WSOL_DEBUG=1)",
            "",
            "commands:",
        ]
        lines += [f"  {name:<{width}}  {_summary(mod)}" for name, mod in commands.items()]
        print("\n".join(lines))
        return 0 if argv else 2
    if argv[0] == "--debug":
        os.environ["WSOL_DEBUG"] = "1"
        return main(argv[1:])
    if argv[0] in ("-V", "--version"):
        from wsol import __version__

        print(__version__)
        return 0
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
