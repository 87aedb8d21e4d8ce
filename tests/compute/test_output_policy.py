"""The output policy on the embedded stack (local executor): algorithms that try to take the
dataset out through their outputs, names and log end as 51 with nothing of theirs released;
honest results pass; status 50 is a real stage, its decision recorded, the log held."""

import json
import random
import threading
import time

import pytest

from c2d.job import Status
from c2d.operator.store import JobStore
from jobs import dataset_order, raw, wait_final, wait_status

rng = random.Random(7)
ROWS = [
    f"{i},{rng.choice(['north', 'south', 'east', 'west'])},{rng.randint(18, 90)},{rng.randint(1000, 99999)}"
    for i in range(2000)
]
CSV = "id,region,age,income\n" + "\n".join(ROWS) + "\n"

READ = "import os, json, base64, gzip, statistics\nd = os.environ['INPUTS'] + '/' + json.loads(os.environ['DIDS'])[0]\ndata = open(d + '/0', 'rb').read()\n"
ATTACKS = {
    "raw copy": "open('/data/outputs/copy.csv', 'wb').write(data)",
    "one slice per file": "for i in range(40):\n    open(f'/data/outputs/p{i:02d}.txt', 'wb').write(data[i * 300:(i + 1) * 300])",
    "base64": "open('/data/outputs/b.txt', 'wb').write(base64.b64encode(data))",
    "hex": "open('/data/outputs/h.txt', 'w').write(data.hex())",
    "gzip": "open('/data/outputs/o.gz', 'wb').write(gzip.compress(data))",
    "tar": "import tarfile\nt = tarfile.open('/data/outputs/o.tar', 'w')\nt.add(d + '/0', arcname='x.csv')\nt.close()",
    "zip": "import zipfile\nz = zipfile.ZipFile('/data/outputs/o.zip', 'w', zipfile.ZIP_DEFLATED)\nz.writestr('x.csv', data)\nz.close()",
    "reversed lines": "open('/data/outputs/r.csv', 'wb').write(b'\\n'.join(reversed(data.splitlines())))",
    "shuffled lines": "import random\nl = data.splitlines()\nrandom.shuffle(l)\nopen('/data/outputs/s.csv', 'wb').write(b'\\n'.join(l))",
    "in file names": "for i in range(5):\n    open('/data/outputs/' + data[i * 80:(i + 1) * 80].decode().replace('\\n', ' '), 'w').write('1')",
    "in the log": "import sys\nsys.stdout.buffer.write(data)",
    "in JSON values": "rows = [dict(zip(['id', 'region', 'age', 'income'], r.split(','))) for r in data.decode().splitlines()[1:]]\nopen('/data/outputs/o.json', 'w').write(json.dumps(rows))",
    "row by row in a CSV": "for r in data.decode().splitlines()[1:]:\n    f = r.split(',')\n    print(','.join([f[3], f[2], f[1], f[0]]), file=open('/data/outputs/rows.csv', 'a'))",
}
HONEST = {
    "a mean per group": "g = {}\nfor r in data.decode().splitlines()[1:]:\n    f = r.split(',')\n    g.setdefault(f[1], []).append(int(f[2]))\nopen('/data/outputs/mean.csv', 'w').write('region,mean\\n' + ''.join(f'{k},{statistics.mean(v):.3f}\\n' for k, v in g.items()))",
    "counts": "open('/data/outputs/n.json', 'w').write(json.dumps({'rows': len(data.splitlines()) - 1}))",
    "a histogram": "h = [0] * 10\nfor r in data.decode().splitlines()[1:]:\n    h[int(r.split(',')[2]) // 10] += 1\nopen('/data/outputs/hist.csv', 'w').write('bin,count\\n' + ''.join(f'{i},{c}\\n' for i, c in enumerate(h)))",
    "a model's weights": "import random\nw = [random.gauss(0, 1) for _ in range(300)]\nopen('/data/outputs/model.json', 'w').write(json.dumps({'weights': w}))\nprint('loss', 0.25)",
}


@pytest.fixture(scope="module")
def table(stack, make_dataset):
    (stack.data_root / "people.csv").write_text(CSV)
    return make_dataset("people.csv")  # the default policy


def _run(consumer, consumer_api, dataset, code):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(READ + code))
    return job["jobId"], wait_final(consumer_api, job["jobId"], timeout=120)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_end_as_51_with_nothing_released(stack, consumer, consumer_api, table, name):
    job_id, final = _run(consumer, consumer_api, table, ATTACKS[name])
    assert final["status"] == 51 and final["statusText"] == "Results withheld by the output policy", final
    assert final["reason"].startswith("output policy, "), final
    assert {r["type"] for r in final["results"]} <= {"configurationLog", "filterLog"}, final["results"]
    for row in ROWS[:20]:
        assert row not in final["reason"]
    assert not (stack.jobs_dir / job_id / "data" / "logs" / "algorithm.log").exists()
    assert consumer_api.compute_logs(job_id) == b""


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_results_pass(stack, consumer, consumer_api, table, name):
    job_id, final = _run(consumer, consumer_api, table, HONEST[name])
    assert final["status"] == 70, final
    assert any(r["type"] == "output" for r in final["results"])
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    statuses = [int(s) for s, _, _ in store.history(job_id)]
    store.close()
    assert statuses[-4:] == [40, 50, 60, 70], statuses


def test_the_decision_is_recorded_and_the_log_held_until_accepted(stack, consumer, consumer_api, table):
    code = "import time\nprint('first line', flush=True)\ntime.sleep(1.5)\nopen('/data/outputs/n.txt', 'w').write('3')"
    (job,) = consumer_api.compute_start(dataset_order(consumer, table), raw(READ + code))
    job_id = job["jobId"]
    wait_status(consumer_api, job_id, 40)
    chunks: list[tuple[float, bytes]] = []

    def follow():
        for chunk in consumer_api.iter_logs(job_id):
            chunks.append((time.monotonic(), chunk))

    follower = threading.Thread(target=follow)
    follower.start()
    seen_running = None
    while seen_running is None or seen_running < 40:  # until the algorithm has printed and slept a while
        (status,) = consumer_api.compute_status(job_id)
        seen_running = status["status"]
        time.sleep(0.05)
    time.sleep(0.8)
    (status,) = consumer_api.compute_status(job_id)
    assert status["status"] == 40 and not chunks, "nothing of the log leaves while the algorithm runs"
    final = wait_final(consumer_api, job_id)
    follower.join(10)
    assert final["status"] == 70, final
    assert b"".join(c for _, c in chunks) == b"first line\n"
    store = JobStore(f"sqlite:///{stack.root / 'operator.db'}")
    from sqlalchemy import select

    from c2d.operator.store import jobs

    with store.engine.connect() as conn:
        report = conn.execute(select(jobs.c.report).where(jobs.c.id == job_id)).scalar()
    store.close()
    report = report if isinstance(report, dict) else json.loads(report)
    assert report["accepted"] and "verbatim" in report["checks"]
    assert [o["name"] for o in report["outputs"]] == ["n.txt", "algorithm.log"]
    assert all(len(o["sha256"]) == 64 for o in report["outputs"])
    filter_log = next(r for r in final["results"] if r["type"] == "filterLog")
    assert b"results accepted" in consumer_api.compute_result(job_id, filter_log["index"])
    assert Status.FILTERING == 50
