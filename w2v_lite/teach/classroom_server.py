"""Serving the classroom page: `serve` runs Voilà over the packaged classroom.ipynb (w2v_lite.teach.classroom
builds what the page shows, inside Voilà's kernel).

This module imports only the standard library (and voila inside `serve`): `w2v-lite classroom` loads it, not
`classroom`, so the command prints its URL without loading torch, matplotlib or the model, which the kernel
loads anyway (issue 17: cold start from the command to the first figure).
"""

from __future__ import annotations

import socket
from pathlib import Path

from w2v_lite.errors import UsageError

__all__ = ["DEFAULT_PORT", "NOTEBOOK", "notebook_path", "serve"]

NOTEBOOK = "classroom.ipynb"
DEFAULT_PORT = 8866


def notebook_path() -> Path:
    """The packaged dashboard notebook Voilà renders."""
    return Path(__file__).resolve().parent / NOTEBOOK


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(port: int = DEFAULT_PORT, open_browser: bool = True) -> int:
    """Serve the page with Voilà on 127.0.0.1:`port` (code hidden) until Ctrl+C; prints the URL first.

    `UsageError` (one `error:` line on the CLI) if voila is missing or the port is taken.
    """
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be in 1..65535, got {port}")
    try:
        import anywidget  # noqa: F401  (the page's kernel needs it: say so here, not as a broken page)
        from voila.app import Voila  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("the classroom page needs voila and anywidget: pip install 'w2v_lite[notebooks]'") from None
    if not _port_free(port):
        raise UsageError(f"port {port} on 127.0.0.1 is in use; pick another with --port")
    url = f"http://127.0.0.1:{port}/"
    print(f"classroom page: {url}  (Ctrl+C stops it)", flush=True)
    argv = [str(notebook_path()), f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
            "--show_tracebacks=False", "--strip_sources=True",
            # send the page at once and run the notebook behind it: figures appear as they are drawn
            "--progressive_rendering=True", f"--Voila.open_browser={open_browser}"]
    Voila.launch_instance(argv=argv)
    return 0
