"""Algorithms that try to take a dataset out through their outputs, names and log, and honest
ones, against a table (CSV) dataset: the output policy's attack suite, run on every executor."""

import random

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

# The publisher's filter: rejects outputs holding a marker, redacts files named secret*,
# and says whether it could write where it must not.
PUBLISHER_FILTER = """
import json, os
verdict = {"decision": "accept", "reason": "", "remove": []}
try:
    open("/data/outputs/planted.txt", "w").write("x")
    verdict["reason"] = "outputs were writable"
except OSError:
    pass
for name in sorted(os.listdir("/data/outputs")):
    if name.startswith("secret"):
        verdict["decision"] = "redact"
        verdict["remove"].append(name)
    elif b"REJECTME" in open("/data/outputs/" + name, "rb").read():
        verdict = {"decision": "reject", "reason": "a forbidden\\nmarker", "remove": []}
        break
assert os.listdir(os.environ["INPUTS"])
print("verdict", verdict["decision"])
json.dump(verdict, open(os.environ["VERDICT"] + "/verdict.json", "w"))
"""
