"""How noisy B1 is here: `python -m bench.b1_spread [PAIRS]` runs ours and raw at N = 100
alternately, PAIRS times (default 10, about two minutes), and prints the per-pair ratios'
median and quartiles. Not part of `make bench`; its figures go in README by hand."""

from __future__ import annotations

import statistics
import sys

from bench import Config, measure_alternating

COUNT = 100


def run(pairs: int = 10, count: int = COUNT) -> dict[str, list[float]]:
    walls, cpus = [], []
    for _ in range(pairs):
        ours, raw = measure_alternating([Config("ours", count), Config("raw", count)], 1)
        walls.append(ours.wall_s / raw.wall_s)
        cpus.append(ours.cpu_s / raw.cpu_s)
    return {"wall": walls, "cpu": cpus}


def summary(ratios: list[float]) -> str:
    low, median, high = statistics.quantiles(ratios, n=4)
    return f"median {median:.2f} (quartiles {low:.2f}-{high:.2f}, n = {len(ratios)})"


def main(argv: list[str]) -> int:
    result = run(int(argv[0]) if argv else 10)
    print(f"B1 ours/raw at N = {COUNT}, per alternating pair: wall "
          f"{summary(result['wall'])}; CPU {summary(result['cpu'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
