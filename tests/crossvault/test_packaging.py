"""``make run`` (re)installs the project in editable mode first: the build backend must
print no warning (issue 17, item 6: the ``project.license`` table, the editable
strategy). The editable wheel is built here as pip builds it, by setuptools' PEP 660 hook,
in a subprocess with every warning an error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BUILD = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("error")
    from setuptools import build_meta
    wheel = build_meta.build_editable(sys.argv[1])
    print(wheel)
    """
)


def test_the_editable_build_warns_about_nothing(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Warning" not in built.stderr, built.stderr[-3000:]
    assert (tmp_path / built.stdout.split()[-1]).is_file()
