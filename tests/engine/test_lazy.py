from __future__ import annotations

import subprocess
import sys

import pytest

from engine.lazy import lazy_module


def test_missing_module_raises_an_import_error_with_the_hint_on_first_use() -> None:
    module = lazy_module("revseg_no_such_module", "pip install it")
    with pytest.raises(ImportError, match="pip install it"):
        module.anything  # noqa: B018 - the attribute access is the test


def test_trainer_and_case_loader_do_not_load_simpleitk_until_used() -> None:
    code = ("import sys, trainer.demo, engine.case; assert 'SimpleITK.SimpleITK' not in sys.modules; "
            "from engine.geometry import sitk; sitk.sitkLinear; assert 'SimpleITK.SimpleITK' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
