"""Plain test helpers that are not fixtures (pytest puts tests/ on sys.path, so tests `import helpers`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def make_read_only(folder: Path) -> None:
    """Make an existing folder unwritable: chmod for users, `chattr +i` for root (root ignores the mode bits).
    Skips the test, saying why, where neither is possible (root without chattr support)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
    elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a read-only folder here")


def undo_read_only(folder: Path) -> None:
    """Make a folder from `make_read_only` writable again (so that pytest can clean it up)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    else:
        folder.chmod(0o755)
