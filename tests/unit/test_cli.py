"""The command line reports bad configuration in one line, without a traceback."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ALPHADAG_SOURCE": "nowhere"}, "ALPHADAG_SOURCE"),
        ({"ALPHADAG_START": "2024-01-01", "ALPHADAG_END": "2023-01-01"}, "before ALPHADAG_START"),
    ],
)
def test_run_rejects_bad_configuration(environ: dict[str, str], expected: str, tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(tmp_path), **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_unwritable_home_is_one_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(blocker / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "not writable" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_prepare_needs_only_the_home_and_writes_the_manifest_there(tmp_path) -> None:
    """`make setup` style: a bad run setting is `run`'s business, not `prepare`'s."""
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "prepare"],
        env={
            "PATH": "/usr/bin:/bin",
            "ALPHADAG_HOME": str(tmp_path),
            "ALPHADAG_SOURCE": "csv:/nonexistent",
            "ALPHADAG_UNIVERSE": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "dbt_target" / "manifest.json").exists()
    assert (tmp_path / "dbt_target" / "partial_parse.msgpack").exists()


@pytest.mark.parametrize(
    ("options", "host"), [([], "127.0.0.1"), (["--host", "0.0.0.0"], "0.0.0.0")]
)
def test_ui_binds_loopback_unless_told(options, host, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from orchestration import cli

    launched: list[list[str]] = []

    def exec_instead(path: str, args: list[str], env: dict[str, str]) -> None:
        launched.append(args)
        raise SystemExit(0)

    monkeypatch.chdir(tmp_path)  # `ui` changes directory and PATH before it execs
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("ALPHADAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.setattr(cli, "_prepare", lambda: None)
    monkeypatch.setattr(cli, "_recover", lambda: None)
    monkeypatch.setattr(cli.os, "execve", exec_instead)
    CliRunner().invoke(cli.app, ["ui", *options])
    (args,) = launched
    assert args[args.index("-h") + 1] == host
