"""The `wsol` command and the scripts in tools/ are one implementation."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from wsol.cli import available_commands, main

ROOT = Path(__file__).resolve().parents[2]


def test_every_tool_script_is_a_subcommand_and_vice_versa():
    commands = available_commands()
    scripts = {p.stem.replace("_", "-"): p for p in (ROOT / "tools").glob("*.py")}
    assert set(scripts) == set(commands), "tools/*.py and wsol/cli/*.py must name the same commands"
    for name, path in scripts.items():
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run"]
        assert calls and calls[0].args[0].value == name, f"{path} must call run({name!r})"


def test_every_subcommand_has_main_and_help_line():
    for name, module in available_commands().items():
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"wsol {name}: the module needs a docstring (its help line)"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: wsol <command>" in out
    for name in available_commands():
        assert name in out


def test_unknown_command_fails_clearly():
    with pytest.raises(SystemExit, match="unknown command 'no-such'"):
        main(["no-such"])


def test_console_script_installed():
    exe = Path(sys.executable).with_name("wsol")
    assert exe.exists(), "pip install -e . must install the wsol command"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip()
