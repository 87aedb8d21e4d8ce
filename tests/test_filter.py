"""The filter stage's checks (c2d.filter) against an attack suite and honest results, on a job
directory laid out as every executor lays it out; the fingerprints' guarantees; the policy's
strictest merge."""

import base64
import gzip
import io
import json
import random
import statistics
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
import pytest

from c2d.filter.check import Checker
from c2d.filter.fingerprints import Winnower, fingerprints, parameters
from c2d.filter.sniff import sniff
from c2d.job.policy import DEFAULT, PRESETS, GroupRule, Limits, OutputPolicy, Rows, Verbatim

DID = "did:op:" + "a" * 40
rng = random.Random(4)
REGIONS = ["north", "south", "east", "west"]
HEADER = "id,region,age,income,email"
BODY = [
    f"{i},{rng.choice(REGIONS)},{rng.randint(18, 90)},{rng.randint(1000, 99999)},u{i}.{rng.randint(0, 10**9)}@example.org"
    for i in range(3000)
]
DATA = ("\n".join([HEADER, *BODY]) + "\n").encode()
# rows shorter than the policy's minimum run: only the row check can see them
SHORT = [f"{rng.randint(1, 99)},{rng.choice('abcdefgh')},{rng.randint(0, 9999)}" for _ in range(2000)]
SHORT_DATA = ("\n".join(SHORT) + "\n").encode()


def check(
    tmp_path: Path,
    outputs: dict[str, bytes],
    log: bytes = b"started\n",
    policy: OutputPolicy = DEFAULT,
    inputs: tuple[bytes, ...] = (DATA, SHORT_DATA),
):
    job = tmp_path / "job"
    folder = job / "data" / "inputs" / DID
    folder.mkdir(parents=True)
    for i, content in enumerate(inputs):
        (folder / str(i)).write_bytes(content)
    (job / "data" / "inputs" / "algoCustomData.json").write_bytes(b'{"consumer": "own data"}')
    out = job / "data" / "outputs"
    out.mkdir(parents=True)
    for name, content in outputs.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    (job / "data" / "logs").mkdir(parents=True)
    (job / "data" / "logs" / "algorithm.log").write_bytes(log)
    report = Checker(policy, job, job / "filter" / "scratch").run()
    assert not list((job / "filter" / "scratch").glob("*")), "the scratch space is emptied"
    return report


def _gzip(b: bytes) -> bytes:
    return gzip.compress(b)


def _zip(b: bytes) -> bytes:
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner/x.csv", b)
    return f.getvalue()


def _tar(b: bytes, name: str = "x.csv") -> bytes:
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = len(b)
        t.addfile(info, io.BytesIO(b))
    return f.getvalue()


SHUFFLED = BODY[:]
rng.shuffle(SHUFFLED)
ATTACKS = {
    "raw copy": ({"out.csv": DATA}, "verbatim"),
    "one slice per file": ({f"part{i:03d}.txt": DATA[i * 200 : (i + 1) * 200] for i in range(60)}, "verbatim"),
    "base64": ({"b.txt": base64.b64encode(DATA)}, "verbatim"),
    "base64 in lines": ({"b.txt": base64.encodebytes(DATA)}, "verbatim"),
    "base64 after a word": ({"b.txt": b"payload" + base64.b64encode(DATA[1000:2000])}, "verbatim"),
    "urlsafe base64": ({"b.txt": base64.urlsafe_b64encode(DATA)}, "verbatim"),
    "hex": ({"h.txt": DATA.hex().encode()}, "verbatim"),
    "hex upper, spaced": ({"h.txt": DATA[:3000].hex(" ").upper().encode()}, "verbatim"),
    "url-encoded": ({"u.txt": urllib.parse.quote(DATA.decode()).encode()}, "verbatim"),
    "gzip": ({"o.gz": _gzip(DATA)}, "verbatim"),
    "zip": ({"o.zip": _zip(DATA)}, "verbatim"),
    "tar": ({"o.tar": _tar(DATA)}, "verbatim"),
    "tar.gz": ({"o.tgz": _gzip(_tar(DATA))}, "verbatim"),
    "zip in a tar": ({"o.tar": _tar(_zip(DATA), "a.zip")}, "verbatim"),
    "reversed lines": ({"r.csv": "\n".join(reversed(BODY)).encode()}, "verbatim"),
    "shuffled lines": ({"s.csv": "\n".join(SHUFFLED).encode()}, "verbatim"),
    "short rows shuffled": ({"s.csv": "\n".join(sorted(SHORT)).encode()}, "rows"),
    "rows, columns reordered": (
        {"s.csv": "\n".join(",".join(reversed(r.split(","))) for r in SHORT[:500]).encode()},
        "rows",
    ),
    "rows as JSON lines": (
        {"s.jsonl": "\n".join(json.dumps(dict(zip("abc", r.split(","), strict=True))) for r in SHORT[:500]).encode()},
        "rows",
    ),
    "rows as JSON values": (
        {"o.json": json.dumps([dict(zip(HEADER.split(","), r.split(","), strict=True)) for r in BODY]).encode()},
        "rows",
    ),
    "data in file names": ({DATA[i * 90 : (i + 1) * 90].decode(): b"1" for i in range(3)}, "limits.namePatterns"),
    "data in names, allowed characters": (
        {f"n{i}-" + DATA[i * 80 : (i + 1) * 80].hex(): b"1" for i in range(3)},
        "limits.namePatterns",
    ),
    "data in names, slice per name": (
        {f"{i:02d}" + DATA[i * 64 : (i + 1) * 64].decode().replace(",", "_"): b"1" for i in range(3)},
        "limits.namePatterns",
    ),
    "data in the log": ({}, "verbatim"),
    "random bytes": ({"o.bin": bytes(rng.getrandbits(8) for _ in range(4096))}, "limits.contentTypes"),
    "too many files": ({f"f{i}.txt": b"1" for i in range(101)}, "limits.maxFiles"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_are_blocked(tmp_path: Path, name: str) -> None:
    outputs, check_name = ATTACKS[name]
    report = check(tmp_path, outputs, log=DATA if name == "data in the log" else b"started\n")
    assert not report.accepted, name
    assert report.findings[0].check == check_name, report.findings
    reason = report.reason()
    assert reason.startswith(f"output policy, {check_name}: ")
    shown = reason + json.dumps([f.item for f in report.findings])  # what the consumer may see
    for row in BODY[:50]:
        assert row not in shown and row.replace(",", "_") not in shown


GROUPS: dict[str, list[int]] = {}
for _row in BODY:
    _f = _row.split(",")
    GROUPS.setdefault(_f[1], []).append(int(_f[2]))
HONEST = {
    "a mean per group": {
        "mean.csv": (
            "region,mean_age\n" + "\n".join(f"{g},{statistics.mean(v):.3f}" for g, v in GROUPS.items())
        ).encode()
    },
    "counts": {"counts.json": json.dumps({g: len(v) for g, v in GROUPS.items()}).encode()},
    "a histogram": {
        "hist.csv": (
            "bin,count\n"
            + "\n".join(f"{b},{sum(1 for r in BODY if int(r.split(',')[2]) // 10 == b)}" for b in range(1, 10))
        ).encode()
    },
    "a model's weights": {
        "model.json": json.dumps({"weights": [rng.gauss(0, 1) for _ in range(500)], "bias": 0.1}).encode()
    },
    "weights as npy": {
        "w.npy": b"\x93NUMPY\x01\x00v\x00"
        + b"{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }".ljust(118)
        + b"\n"
        + bytes(1024)
    },
    "a report with the header": {"report.txt": f"columns: {HEADER}\nrows: {len(BODY)}\n".encode()},
    "compressed summary": {
        "summary.json.gz": _gzip(json.dumps({g: statistics.mean(v) for g, v in GROUPS.items()}).encode())
    },
}


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_results_pass(tmp_path: Path, name: str) -> None:
    report = check(tmp_path, HONEST[name], log=b"training done\nloss 0.123\n" + b"=" * 200 + b"\n")
    assert report.accepted, report.findings
    assert report.outputs and all(len(o.sha256) == 64 for o in report.outputs)


def test_group_size(tmp_path: Path) -> None:
    tiny = "\n".join([HEADER, *BODY, "9001,tiny,40,5000,a@b.c"]) + "\n"
    policy = OutputPolicy(rows=Rows(minGroupSize=[GroupRule(column="region", k=5)]))
    means = "region,mean\n" + "\n".join(f"{g},{statistics.mean(v):.2f}" for g, v in GROUPS.items())
    assert check(tmp_path / "a", {"m.csv": means.encode()}, policy=policy, inputs=(tiny.encode(),)).accepted
    report = check(
        tmp_path / "b", {"m.csv": (means + "\ntiny,40.00\n").encode()}, policy=policy, inputs=(tiny.encode(),)
    )
    assert not report.accepted and report.findings[0].check == "rows.minGroupSize"
    assert "tiny" not in report.reason()


def test_archives_refused_and_bombs(tmp_path: Path) -> None:
    refuse = OutputPolicy(verbatim=Verbatim(archives="refuse"))
    report = check(tmp_path / "a", HONEST["compressed summary"], policy=refuse)
    assert not report.accepted and report.findings[0].check == "verbatim.archives"
    bomb = OutputPolicy(verbatim=Verbatim(maxExpandedBytes=1 << 20))
    report = check(tmp_path / "b", {"z.gz": _gzip(b"x" * (8 << 20))}, policy=bomb)
    assert not report.accepted and "expand" in report.findings[0].detail
    report = check(tmp_path / "c", {"z.gz": _gzip(DATA)[:-20]})
    assert not report.accepted and report.findings[0].check in ("verbatim.archives", "verbatim")


def test_limits(tmp_path: Path) -> None:
    policy = OutputPolicy(limits=Limits(maxBytes=1000))
    report = check(tmp_path / "a", {"a.txt": b"a" * 1001}, policy=policy)
    assert report.findings[0].check == "limits.maxBytes"
    report = check(tmp_path / "b", {"a.txt": b"fine", "sub/.hidden": b"x"})
    assert report.findings[0].check == "limits.namePatterns" and report.findings[0].item == "an output's name"


def test_sniffing_ignores_names() -> None:
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff(b"a,b\n1,2\n3,4\n") == "text/csv"
    assert sniff(b'{"a": 1}\n{"a": 2}\n') == "application/x-ndjson"
    assert sniff(b"[1, 2]") == "application/json"
    assert sniff(b"hello world\n") == "text/plain"
    assert sniff(bytes(range(256))) == "application/octet-stream"
    assert sniff(b"\x00" * 300 + b"ustar") == "application/octet-stream"
    assert sniff(b"x" * 257 + b"ustar\x0000") == "application/x-tar"


def test_fingerprints_find_every_run_of_min_run_and_none_shorter_than_k() -> None:
    data = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    whole = fingerprints([data], 64)
    for cut in (1, 1000, 65536, 777_777):  # however the stream is cut
        assert np.array_equal(
            whole,
            fingerprints(
                [data[i : i + cut] for i in range(0, len(data), cut)] if cut > 1 else [data[:5], data[5:]], 64
            ),
        )
    k, _ = parameters(64)
    other = np.random.default_rng(2).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    for start in range(0, 1 << 20, 37_000):
        found = fingerprints([other[:7000] + data[start : start + 64] + other[7000:]], 64)
        assert np.intersect1d(whole, found).size, start
        short = fingerprints([other[:7000] + data[start : start + k - 1] + other[7000:]], 64)
        assert not np.intersect1d(whole, short).size, start
    assert not np.intersect1d(whole, fingerprints([other], 64)).size
    # only the k-grams across the two boundaries (a random stream this long keeps about 1,450)
    assert fingerprints([bytes(4096) + b" " * 4096 + b"0,0," * 1000], 64).size <= 32, "periodic runs are not kept"


def test_winnower_memory_is_bounded_by_its_piece() -> None:
    w = Winnower(64)
    total = sum(len(w.feed(b"ab" + bytes([i % 251]) * 3 + b"c")) for i in range(100_000))
    assert total + len(w.finish()) > 0
    assert w.bytes == 600_000


def test_strictest_policy() -> None:
    merged = OutputPolicy.strictest([DEFAULT, PRESETS["strict"], PRESETS["open"]])
    assert merged.limits.maxFiles == 10 and merged.verbatim.minRun == 32 and merged.verbatim.archives == "refuse"
    assert merged.approval.required and set(merged.limits.contentTypes) == {
        "text/plain",
        "text/csv",
        "application/json",
    }
    assert not OutputPolicy.strictest([PRESETS["open"], PRESETS["open"]]).enabled
    with pytest.raises(ValueError):
        Limits(namePatterns=["(unclosed"])


def test_spilled_sets_join_as_in_memory_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MEMORY values a set goes to disk bucket by bucket: the join finds what it finds
    in memory, tag by tag."""
    from c2d.filter import store

    gen = np.random.default_rng(5)
    inputs = gen.integers(0, 2**63, 50_000, dtype=np.uint64)
    outputs = [gen.integers(0, 2**63, 3_000, dtype=np.uint64) for _ in range(4)]
    outputs[1][:700] = inputs[:700]  # tag 1 shares 700 values, tag 3 shares 5
    outputs[3][:5] = inputs[-5:]

    def joined(folder: Path) -> dict[int, int]:
        a, b = store.HashSet(folder, "in"), store.HashSet(folder, "out")
        for piece in np.array_split(inputs, 7):
            a.add(piece)
        for tag, values in enumerate(outputs):
            b.add(values, tag)
        try:
            return store.common(a, b)
        finally:
            spilled = a.spilled and b.spilled
            a.remove()
            b.remove()
            assert not list(folder.glob("*"))
            joined.spilled = spilled  # type: ignore[attr-defined]

    in_memory = joined(tmp_path / "memory")
    assert not joined.spilled  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "MEMORY", 4_000)
    on_disk = joined(tmp_path / "disk")
    assert joined.spilled  # type: ignore[attr-defined]
    assert in_memory == on_disk == {1: 700, 3: 5}


def _verdict_job(tmp_path: Path, verdicts: list[bytes | None]) -> Path:
    from c2d.job import JobSpec, layout

    job = tmp_path / "job"
    filters = [
        {"did": "did:op:" + str(i) * 40, "files": [0], "checksums": {"0": "0" * 64}, "container": CONTAINER}
        for i in range(len(verdicts))
    ]
    spec = JobSpec.model_validate(
        {
            "jobId": "j",
            "owner": "0x" + "1" * 40,
            "datasets": [{"did": DID, "serviceId": 0, "transferTxId": "0x" + "2" * 64, "files": [0]}],
            "algorithm": {"rawcode": "x", "container": CONTAINER},
            "filters": filters,
        }
    )
    (job / "data").mkdir(parents=True)
    layout.write_spec(job, spec)
    for index, verdict in enumerate(verdicts):
        folder = layout.publisher_filter(job, index) / "verdict"
        folder.mkdir(parents=True)
        if verdict is not None:
            (folder / layout.VERDICT_FILE).write_bytes(verdict)
    return job


CONTAINER = {"entrypoint": "python $ALGO", "image": "c2d/algorithm-python", "tag": "dev"}


def test_publisher_filters_verdicts(tmp_path: Path) -> None:
    from c2d.job import layout
    from c2d.pods.filter import verdicts

    def read(*given: bytes | None) -> tuple[list[str], list[str]]:
        job = _verdict_job(tmp_path / str(len(list(tmp_path.iterdir()))), list(given))
        refused, withheld = verdicts(job, layout.read_spec(job))
        return [f.item for f in refused], withheld

    accept = b'{"decision": "accept"}'
    assert read(accept, accept) == ([], [])
    redact = b'{"decision": "redact", "remove": ["a.csv", "/data/outputs/b", "./c//d/", "e/./f"]}'
    assert read(accept, redact) == ([], ["a.csv", "b", "c/d", "e/f"])
    items, _ = read(b'{"decision": "reject", "reason": "no\\u0000thanks"}')
    assert items == ["rejected by the publisher's filter did:op:" + "0" * 40 + ": no thanks"]
    paths = (b"/data/outputs/", b"/data/outputs", b".", b"/", b"../x", b"a/../../b")
    bad_paths = [b'{"decision": "redact", "remove": ["%s"]}' % path for path in paths]
    malformed = (None, b"", b"[]", b'{"decision": "maybe"}', b'{"decision": "accept", "extra": 1}', b" " * (65 << 10))
    for bad in (*malformed, *bad_paths):
        items, _ = read(accept, bad)
        assert items == ["the publisher's filter did:op:" + "1" * 40 + " left no valid verdict"], bad
    job = _verdict_job(tmp_path / "link", [None])  # a verdict that is a link is not followed
    target = tmp_path / "elsewhere.json"
    target.write_bytes(accept)
    (layout.publisher_filter(job, 0) / "verdict" / layout.VERDICT_FILE).symlink_to(target)
    refused, _ = verdicts(job, layout.read_spec(job))
    assert [f.item for f in refused] == ["the publisher's filter did:op:" + "0" * 40 + " left no valid verdict"]


def test_redacted_outputs_are_not_checked(tmp_path: Path) -> None:
    from c2d.job.policy import is_withheld

    report = Checker(DEFAULT, _job_with(tmp_path, {"copy.csv": DATA, "deep/x/raw.csv": DATA, "ok.txt": b"3"}),
                     tmp_path / "scratch", withheld=["copy.csv", "/data/outputs/deep"]).run()  # fmt: skip
    assert report.accepted, report.findings
    assert [o.name for o in report.outputs] == ["ok.txt", "algorithm.log"]
    assert is_withheld("deep/x/raw.csv", ["deep/"]) and not is_withheld("deeper.csv", ["deep"])
    assert not is_withheld("a", ["", "/", "/data/outputs/"])


def _job_with(tmp_path: Path, outputs: dict[str, bytes]) -> Path:
    job = tmp_path / "job"
    (job / "data" / "inputs" / DID).mkdir(parents=True)
    (job / "data" / "inputs" / DID / "0").write_bytes(DATA)
    for name, content in outputs.items():
        (job / "data" / "outputs" / name).parent.mkdir(parents=True, exist_ok=True)
        (job / "data" / "outputs" / name).write_bytes(content)
    (job / "data" / "logs").mkdir(parents=True)
    (job / "data" / "logs" / "algorithm.log").write_bytes(b"ok\n")
    return job


def test_strictest_never_drops_a_check() -> None:
    """Merged policies beyond one policy's caps refuse the job rather than cut a dataset's
    filters, patterns or rules; approval is a check (it needs the policy on)."""
    from c2d.job.policy import Approval, FilterAlgorithm, PoliciesTooLarge

    def filters(start: int) -> list[FilterAlgorithm]:
        return [
            FilterAlgorithm(did=f"did:op:{i:040x}", filesChecksum="0" * 64, containerSectionChecksum="0" * 64)
            for i in range(start, start + 5)
        ]

    with pytest.raises(PoliciesTooLarge):
        OutputPolicy.strictest([OutputPolicy(filters=filters(0)), OutputPolicy(filters=filters(5))])
    assert (
        len(OutputPolicy.strictest([OutputPolicy(filters=filters(0)), OutputPolicy(filters=filters(0))]).filters) == 5
    )
    with pytest.raises(ValueError, match="approval is a check"):
        OutputPolicy(enabled=False, approval=Approval(required=True))
