"""The `wsol` command, the entry scripts in tools/ (one implementation) and the benchmark scripts' errors."""

import ast
import subprocess
import sys
from pathlib import Path

from wsol.cli import available_commands, main

ROOT = Path(__file__).resolve().parents[2]


def test_tool_scripts_are_the_three_entry_points_each_a_run_call():
    commands = available_commands()
    scripts = {p.stem: p for p in (ROOT / "tools").glob("*.py")}
    assert set(scripts) == {"train", "evaluate", "export"} and set(scripts) <= set(commands)
    for name, path in scripts.items():
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run"]
        assert calls and calls[0].args[0].value == name, f"{path} must call run({name!r})"
    benches = {p.stem for p in (ROOT / "tools" / "bench").glob("*.py")}
    assert {"evaluate", "explainers", "export", "localization", "train"} <= benches
    assert not any(name.startswith("bench") for name in commands), "benchmarks are scripts, not subcommands"


def test_bench_script_user_error_is_one_line_exit_2():
    env = {k: v for k, v in __import__("os").environ.items() if k != "WSOL_DEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools/bench/train.py"), "--config", "/nonexistent/cfg.yaml"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr == "tools/bench/train.py: config file not found: /nonexistent/cfg.yaml\n"


def test_every_subcommand_has_main_and_help_line():
    for name, module in available_commands().items():
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"wsol {name}: the module needs a docstring (its help line)"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: wsol [--debug] <command>" in out
    for name in available_commands():
        assert name in out


def test_unknown_command_fails_clearly(capsys):
    assert main(["no-such"]) == 2  # argparse's convention for usage errors
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and "unknown command 'no-such'" in err


def _user_error_run(env_debug: str | None, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if k != "WSOL_DEBUG"}
    if env_debug is not None:
        env["WSOL_DEBUG"] = env_debug
    cmd = [sys.executable, "-m", "wsol", *extra, "train", "--config", "/nonexistent/cfg.yaml"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_user_error_is_one_line_exit_2():
    plain = _user_error_run(None)
    assert plain.returncode == 2
    assert len(plain.stderr.strip().splitlines()) == 1 and "/nonexistent/cfg.yaml" in plain.stderr
    assert "Traceback" not in plain.stderr


def test_system_exit_message_becomes_exit_2(capsys, monkeypatch):
    import types

    from wsol import cli

    fake = types.SimpleNamespace(main=lambda argv: (_ for _ in ()).throw(SystemExit("--count must be >= 1")))
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: fake)
    assert cli.run("overlays", []) == 2
    assert capsys.readouterr().err.strip() == "wsol overlays: --count must be >= 1"


def test_console_script_installed():
    exe = Path(sys.executable).with_name("wsol")
    assert exe.exists(), "pip install -e . must install the wsol command"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip()


def test_user_input_error_one_line_and_debug_traceback(capsys, monkeypatch):
    import types

    from wsol import cli
    from wsol.errors import UserInputError

    def boom(argv):
        raise UserInputError("data/x.txt:3: expected 4 fields,\ngot 2")

    monkeypatch.setattr(cli.importlib, "import_module", lambda name: types.SimpleNamespace(main=boom))
    monkeypatch.delenv("WSOL_DEBUG", raising=False)
    assert cli.run("evaluate", []) == 2
    assert capsys.readouterr().err == "wsol evaluate: data/x.txt:3: expected 4 fields, got 2\n"
    monkeypatch.setenv("WSOL_DEBUG", "1")
    assert cli.run("evaluate", []) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "UserInputError" in err
