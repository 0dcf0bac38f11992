"""``import modal`` resolves to ketch once the alias is installed."""

from __future__ import annotations

import subprocess
import sys


def test_modal_and_its_submodules_resolve_to_ketch():
    code = (
        "import ketch.modal_alias as a; a.install();"
        "import modal, modal.exception, modal.functions, ketch;"
        "from modal.exception import FunctionTimeoutError;"
        "assert modal is ketch and modal.exception is ketch.exception;"
        "assert modal.functions.FunctionCall is ketch.FunctionCall;"
        "assert ketch.__spec__.name == 'ketch';"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_unknown_submodule_says_what_exists():
    code = "import ketch.modal_alias as a; a.install(); import modal.nothing_here"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "ketch does not provide 'modal.nothing_here'" in result.stderr
