"""Merge the results stores of one run split by subjects over several GPUs or machines.

    python tools/merge_stores.py results_gpu0 results_gpu1 results_gpu2 results_gpu3 --out results_all

Each source is a results folder as the chapters' ``results_dir`` parameter named it (every store in
it is merged: ``<model>/<inventory>``), or one store folder ``<results_dir>/<model>/<inventory>``.
Every source must hold the same stores. ``--out`` is a new results folder: the merged stores land
at ``<out>/<model>/<inventory>``, so a chapter run with ``-p results_dir <out>`` reads them. The
rules (what must agree, what is concatenated) are those of ``palign_nb.merging.merge_stores``;
``book/full_scale.md`` shows the whole split run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from palign_nb.errors import PalignError
from palign_nb.merging import merge_stores


def find_stores(path: Path) -> dict[str, Path]:
    """The stores in ``path`` by ``<model>/<inventory>``: ``path`` itself if it is one, else those inside it."""
    if (path / "manifest.jsonl").is_file():
        return {f"{path.parent.name}/{path.name}": path}
    found = {
        m.parent.relative_to(path).as_posix(): m.parent
        for m in sorted(path.glob("*/*/manifest.jsonl"))
    }
    if not found:
        raise PalignError(
            f"No results store in {path}: pass the folder given to the chapters as results_dir "
            "(it holds <model>/<inventory>/manifest.jsonl) or a store folder itself."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sources",
        nargs="+",
        type=Path,
        help="results folders (or store folders) of the parts",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="a new results folder for the merged stores",
    )
    args = parser.parse_args(argv)
    try:
        stores = {src: find_stores(src) for src in args.sources}
        names = {frozenset(found) for found in stores.values()}
        if len(names) > 1:
            held = "; ".join(
                f"{src}: {', '.join(sorted(found))}" for src, found in stores.items()
            )
            raise PalignError(
                f"The sources hold different stores ({held}). Pass the store folders "
                "<results_dir>/<model>/<inventory> to merge one store at a time."
            )
        for name in sorted(next(iter(names))):
            report = merge_stores(
                [found[name] for found in stores.values()], args.out / name
            )
            print(f"merged {len(args.sources)} stores into {report.target}")
            for table, n in sorted(report.subjects.items()):
                print(f"  {table}: {n} subjects")
            for note in report.notes:
                print(f"  note: {note}")
    except PalignError as err:
        print(f"merge_stores: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
