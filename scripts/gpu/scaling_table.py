"""The table of scripts/gpu/ddp_scaling.sh: one GPU (mean of GPU 0 and GPU 1 alone) against two, per round and
over all rounds. Usage: python3 scripts/gpu/scaling_table.py scaling.jsonl"""

from __future__ import annotations

import json
import sys
from statistics import mean


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    alone = [r for r in rows if r["processes"] == 1]
    pairs = [r for r in rows if r["processes"] > 1]
    print("| round | mode | ddp | GPU 0 alone | GPU 1 alone | 1 GPU (mean) | 2 GPUs | scaling | ranks' s/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in pairs:
        solo = {a["gpu"]: a["patches_per_s"] for a in alone if (a["round"], a["mode"]) == (r["round"], r["mode"])}
        if len(solo) < 2:
            continue
        base = mean(solo.values())
        print(f"| {r['round']} | {r['mode']} | {r['ddp']} | {solo['0']:.1f} | {solo['1']:.1f} | {base:.1f} | "
              f"{r['patches_per_s']:.1f} | {r['patches_per_s'] / base:.2f}x | "
              f"{r['fastest_rank_seconds_per_step']:.3f}-{r['slowest_rank_seconds_per_step']:.3f} |")
    for mode, ddp in sorted({(r["mode"], r["ddp"]) for r in pairs}):
        two = [r["patches_per_s"] for r in pairs if (r["mode"], r["ddp"]) == (mode, ddp)]
        rounds = {r["round"] for r in pairs if (r["mode"], r["ddp"]) == (mode, ddp)}
        one = [a["patches_per_s"] for a in alone if a["mode"] == mode and a["round"] in rounds]
        print(f"| all {len(rounds)} rounds | {mode} | {ddp} | | | {mean(one):.1f} | {mean(two):.1f} | "
              f"**{mean(two) / mean(one):.2f}x** | |")


if __name__ == "__main__":
    main(sys.argv[1])
