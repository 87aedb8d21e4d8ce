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


def test_configure_empties_the_input_folders_in_place(tmp_path):
    """An algorithm started ahead has data/inputs mounted already: configure keeps the folder
    (the same inode) and empties it; a link in its place is taken away, never followed."""
    from c2d.pods.configure import _empty

    inputs = tmp_path / "inputs"
    (inputs / "did" / "deep").mkdir(parents=True)
    (inputs / "did" / "0").write_text("old")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    (inputs / "link").symlink_to(outside)
    before = inputs.stat().st_ino
    _empty(inputs)
    assert inputs.stat().st_ino == before and list(inputs.iterdir()) == []
    assert (outside / "keep").read_text() == "keep"
    swapped = tmp_path / "ddos"
    swapped.symlink_to(outside)
    _empty(swapped)
    assert not swapped.exists() and not swapped.is_symlink() and (outside / "keep").exists()
