"""When the user network's guard can work (c2d.operator.executors.usernet.missing)."""

import os

from c2d.operator.executors import usernet


def test_a_folder_named_like_the_controller_is_not_the_controller(tmp_path, monkeypatch):
    """A plain folder where net_cls should be mounted: classids written into it would mark no
    packet, so the algorithm's network is refused rather than left unguarded."""
    assert os.geteuid() == 0, "the engine's guard needs root; so does this test"
    fake = tmp_path / "cgroup" / "net_cls"
    fake.mkdir(parents=True)
    monkeypatch.setattr(usernet, "CGROUP", fake / "c2d-usernet")
    assert usernet.missing() == "needs the net_cls cgroup controller (cgroup v1)"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cgroup", "net_cls"]  # nothing mounted or made


def test_the_real_controller_is_found_or_mounted():
    assert usernet.missing() is None
    assert os.path.ismount(usernet.CGROUP.parent)
