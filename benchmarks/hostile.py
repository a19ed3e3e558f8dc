"""Crafted hostile inputs through the real command line: how fast, how much memory. Prints JSON.

    python benchmarks/hostile.py

The cases of ``tests/test_hostile.py`` (devices, FIFOs, zip bombs, lying headers, bad
arrays and manifests, unwritable outputs), run one after another in one child process
(``tests/hostile.py``): for each, whether it ended in one specific error line, its time,
and the child's peak resident memory (VmHWM) over the whole run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, emit

sys.path.insert(0, str(REPO / "tests"))
from test_hostile import _crafted_cases  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = _crafted_cases(d)
        spec = d / "cases.json"
        spec.write_text(json.dumps({name: argv for name, (argv, _) in cases.items()}))
        r = subprocess.run([sys.executable, str(REPO / "tests" / "hostile.py"), str(spec)], cwd=REPO,
                           capture_output=True, text=True, timeout=600, check=True)
    res = json.loads(r.stdout.splitlines()[-1])
    lines = {name: res[name]["stderr"].strip().splitlines() for name in cases}
    unexpected = sorted(n for n, ls in lines.items() if len(ls) != 1 or "unexpected" in ls[0] or res[n]["rc"] != 1)
    slowest = max(cases, key=lambda n: res[n]["seconds"])
    emit({"benchmark": "hostile", "cases": len(cases), "not_one_specific_error_line": unexpected,
          "slowest_case": slowest, "slowest_s": round(res[slowest]["seconds"], 3),
          "peak_mb": round(res["peak_mb"], 1), "targets": {"slowest_s": 5.0, "peak_mb": 500.0}})


if __name__ == "__main__":
    main()
