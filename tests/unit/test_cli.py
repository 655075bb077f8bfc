"""The command line reports bad configuration in one line, without a traceback."""

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
