"""Modal programs in the spirit of modal-examples' CPU examples (written for these tests, not
copied), run unchanged through the ``ketch`` CLI in real subprocesses, each with a timeout."""

from __future__ import annotations

from pathlib import Path

from .test_programs import ketch_cli

PROGRAMS = Path(__file__).parent / "programs"


def test_wsgi_app_on_an_image_without_a_web_server():
    # Modal serves wsgi_app/asgi_app with its own server: the image needs only the user's app
    result = ketch_cli("run", str(PROGRAMS / "wsgi_without_uvicorn.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answer GET /some/path" in result.stdout.splitlines()
