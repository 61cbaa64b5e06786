"""``mlops-runtime sample-data``: write one of the synthetic data sets (``loans``: mixed
types with gaps; ``credit``: past decisions biased against one sex) as CSV or Parquet.

    mlops-runtime sample-data loans --rows 2000 --seed 7 --output /data/loans.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mlops_runtime.trainer import sample_credit, sample_loans

#: Each data set's generator and its default (rows, seed).
DATASETS: dict[str, tuple[Callable[[int, int], pd.DataFrame], int, int]] = {
    "loans": (sample_loans.generate, 2000, 7),
    "credit": (sample_credit.generate, 3000, 11),
}


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """CSV (``\\n`` line ends) or Parquet bytes of the table."""
    if fmt == "parquet":
        return bytes(frame.to_parquet(index=False))
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlops-runtime sample-data",
                                     description="Write a synthetic data set.")
    parser.add_argument("dataset", choices=list(DATASETS))
    parser.add_argument("--rows", type=int, help="default: 2000 loans, 3000 credit")
    parser.add_argument("--seed", type=int, help="default: 7 loans, 11 credit")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--output", default="-", help="a file path, or - for stdout")
    args = parser.parse_args(argv)
    generate, rows, seed = DATASETS[args.dataset]
    rows = rows if args.rows is None else args.rows
    data = to_bytes(generate(rows, seed if args.seed is None else args.seed), args.format)
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file
        print(f"wrote {rows} {args.dataset} rows to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
