import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_c2d_operator_does_not_shadow_the_stdlib_operator():
    # Run from the repository root, where a stray operator/ package would be found first.
    code = "import operator, c2d.operator; print(operator.__file__); print(c2d.operator.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    stdlib_operator, c2d_operator = out.split()
    assert not stdlib_operator.startswith(str(REPO))
    assert c2d_operator == str(REPO / "operator" / "__init__.py")
