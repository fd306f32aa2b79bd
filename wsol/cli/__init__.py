"""The ``wsol`` command: one subcommand per module of this package that defines ``main(argv)``.

``wsol train ...`` and ``python tools/train.py ...`` run the same ``wsol.cli.train.main``; the scripts in
``tools/`` are three-line shims, so there is one implementation of every entry point.
A module ``wsol/cli/foo_bar.py`` becomes the subcommand ``foo-bar``; each module's docstring first line is
its help text.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Sequence


def available_commands() -> dict[str, str]:
    """Subcommand name → module name, discovered from this package (modules starting with ``_`` are private)."""
    commands = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            commands[info.name.replace("_", "-")] = f"{__name__}.{info.name}"
    return dict(sorted(commands.items()))


def run(command: str, argv: Sequence[str] | None = None) -> int:
    """Run one subcommand with its own arguments (``sys.argv[1:]`` when ``argv`` is None)."""
    commands = available_commands()
    if command not in commands:
        raise SystemExit(f"wsol: unknown command {command!r}; known: {', '.join(commands)}")
    module = importlib.import_module(commands[command])
    result = module.main(list(sys.argv[1:] if argv is None else argv))
    return int(result or 0)


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
        lines = ["usage: wsol <command> [options]   (wsol <command> --help for its options)", "", "commands:"]
        lines += [f"  {name:<{width}}  {_summary(mod)}" for name, mod in commands.items()]
        print("\n".join(lines))
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from wsol import __version__

        print(__version__)
        return 0
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
