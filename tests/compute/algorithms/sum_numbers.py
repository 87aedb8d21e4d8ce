"""Sums the numbers of every input file; writes the total and a per-file report."""

import json
import os
from pathlib import Path

inputs = Path(os.environ["INPUTS"])
outputs = Path(os.environ["OUTPUTS"])
total = 0
report = {}
for did in json.loads(os.environ["DIDS"]):
    for path in sorted((inputs / did).iterdir()):
        numbers = [int(line) for line in path.read_text().split() if line.strip().isdigit()]
        report[f"{did}/{path.name}"] = sum(numbers)
        total += sum(numbers)
(outputs / "total.txt").write_text(f"{total}\n")
(outputs / "details").mkdir()
(outputs / "details" / "report.json").write_text(json.dumps(report, sort_keys=True))
print(f"summed {len(report)} file(s): {total}")
