"""``diffland bench`` writes its records and table (tiny sizes; the figures themselves are not checked)."""
import json

import pytest

from diffland.bench import run_bench


@pytest.mark.slow
def test_bench_writes_records_and_table(tmp_path):
    cfgs = [{"cells": 2, "steps": 6, "mode": "naive"},
            {"cells": 2, "steps": 6, "mode": "forward"},
            {"cells": 2, "steps": 6, "mode": "forward", "cached": True}]
    recs = run_bench(tmp_path, cfgs=cfgs)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert [r["mode"] for r in saved] == ["naive", "forward", "forward"]
    for r in saved:
        for key in ("cells", "steps", "mode", "cell_steps_per_s", "peak_mem_mb", "peak_mem_process_mb"):
            assert key in r, key
        assert r["cell_steps_per_s"] > 0 and r["peak_mem_mb"] > 0
        assert r["peak_mem_process_mb"] >= r["peak_mem_mb"] * 0.99
    # the cached row loaded its program from the cache filled by the first process: the XLA
    # compile part (after tracing and lowering) is much shorter than it was there (a forward
    # row keeps the suite short; the gradient rows use the same code path)
    g = saved[2]
    assert g["cached"]
    assert g["compile_s"] - g["lower_s"] < 0.5 * (g["compile_s_uncached"] - g["lower_s"]), g
    md = (tmp_path / "bench.md").read_text()
    assert "| 2 | 6 | forward | 1 | - cached |" in md
