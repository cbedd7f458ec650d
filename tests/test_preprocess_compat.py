"""The processing scripts must run in the SageMaker scikit-learn 1.2-1 container: Python 3.9, numpy/Pillow/boto3."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / "preprocessing" / "preprocess.py", ROOT / "preprocessing" / "cleanup.py"]
ALLOWED = {"numpy", "PIL", "boto3", "botocore"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_parses_as_python_3_9(script):
    tree = ast.parse(script.read_text(), feature_version=(3, 9))
    assert any(isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in tree.body), (
        "needs `from __future__ import annotations` for 3.9-safe annotations"
    )
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Match), "match statements need Python 3.10"
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip":
            assert not any(k.arg == "strict" for k in node.keywords), "zip(strict=) needs Python 3.10"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_imports_only_stdlib_numpy_pillow_boto3(script):
    tree = ast.parse(script.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED or top in sys.stdlib_module_names or top == "__future__", name
