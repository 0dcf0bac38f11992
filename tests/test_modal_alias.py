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


def test_every_name_of_modal_1_5_4s_all_imports_under_ketch_run():
    from pathlib import Path

    program = Path(__file__).parent / "compat" / "programs" / "modal_all.py"
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "run", "-q", str(program)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "names 46",
        "placeholders []",
        "types ketch.types True"]
