"""Loading the real data: the PAPI test set (300 subjects, IPIP-NEO-300) and the SD3 responses.

Every loader returns a DataFrame indexed by subject id whose item columns are the inventory's
item columns (``i1``..``i300`` or ``M1``..``P9``), with 0 marking a missing answer, and checks that
every answer lies in 0..5.

Introduced in :doc:`/notebooks/01_inventories`.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .errors import PalignError
from .inventories import check_answers, get_inventory
from .paths import data_dir

RESTORE = "It ships with the book: restore it with `git checkout -- data/`."


def _require_file(path: Path) -> Path:
    if not path.exists():
        raise PalignError(f"Missing data file {path}. {RESTORE}")
    return path


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (recorded in run manifests)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def load_papi_test() -> pd.DataFrame:
    """The 300 PAPI test subjects: demographics plus ``i1``..``i300`` (stored values, 0 = missing).

    Indexed by Johnson's ``case`` id.
    """
    path = _require_file(data_dir() / "papi" / "Test-set.json")
    frame = pd.DataFrame(json.loads(path.read_text())).set_index("case")
    check_answers(frame, get_inventory("ipip"))
    return frame


def load_papi_full(path: str | Path) -> pd.DataFrame:
    """A full PAPI-300K (or Johnson IPIP300) table in the same column layout as the test set.

    Accepts .csv, .tsv, .parquet or .json(l) with a ``case`` column and ``i1``..``i300``.
    Not shipped (hundreds of MB); pass the path of a copy you downloaded yourself.
    """
    path = Path(path)
    if not path.exists():
        raise PalignError(
            f"No file at {path}. Download PAPI-300K yourself and pass its path; the book ships only the 300-subject test set."
        )
    readers = {
        ".csv": pd.read_csv,
        ".tsv": lambda p: pd.read_csv(p, sep="\t"),
        ".parquet": pd.read_parquet,
        ".json": pd.read_json,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    if path.suffix not in readers:
        raise PalignError(f"Cannot read {path.name}: use one of {', '.join(readers)}.")
    frame = readers[path.suffix](path)
    missing = [
        c
        for c in ["case", *get_inventory("ipip").items.index]
        if c not in frame.columns
    ]
    if missing:
        raise PalignError(
            f"{path.name} lacks columns {missing[:5]}...: it must have `case` and i1..i300 like data/papi/Test-set.json."
        )
    frame = frame.set_index("case")
    check_answers(frame, get_inventory("ipip"))
    return frame


@lru_cache(maxsize=None)
def load_sd3() -> pd.DataFrame:
    """The 18,192 SD3 respondents: ``M1``..``P9`` (literal answers 1-5, 0 = missing), country, source.

    Indexed by row number (0..18191) in ``data/sd3/data.csv``.
    """
    path = _require_file(data_dir() / "sd3" / "data.csv")
    frame = pd.read_csv(path, sep="\t", keep_default_na=False)
    frame.index.name = "subject"
    check_answers(frame, get_inventory("sd3"))
    return frame


PAPER_SD3 = "sd3/paper"
SD3_PAPER_FILES = (
    "dark_triad_Test_set.json",
    "dark_triad_split.json",
    "dark_triad-ItemKey.xls",
)


def _checked_paper_sd3_file(name: str) -> Path:
    """A file of ``data/sd3/paper/`` whose sha256 matches the one ``SOURCE.md`` records for it."""
    folder = data_dir() / PAPER_SD3
    source = _require_file(folder / "SOURCE.md").read_text()
    match = re.search(rf"`{re.escape(name)}`\s*\|\s*`([0-9a-f]{{64}})`", source)
    if match is None:
        raise PalignError(
            f"{folder / 'SOURCE.md'} records no sha256 for {name}. {RESTORE}"
        )
    path = _require_file(folder / name)
    if file_sha256(path) != match.group(1):
        raise PalignError(
            f"{path} does not match the sha256 in SOURCE.md: it was changed. {RESTORE}"
        )
    return path


@lru_cache(maxsize=None)
def sd3_paper_subjects() -> list[int]:
    """The paper's 300 Dark Triad test subjects, as row ids of ``data/sd3/data.csv`` (in the file's order).

    The released ``dark_triad_Test_set.json`` carries no subject id, only the 27 answers, ``country``
    and ``source``. Each of its rows is found in ``data.csv`` by matching all 29 values: 297 match one
    row, 3 match several identical rows (2, 3 and 5 rows with the same answers, country and source,
    so any of them is the same answer sheet). For those 3 the **lowest row id** is taken, so the
    mapping is deterministic.
    A subject that matches no row raises :class:`.PalignError`. Both files are checked against the
    checksums recorded in ``SOURCE.md`` first.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    path = _checked_paper_sd3_file(SD3_PAPER_FILES[0])
    key = [*get_inventory("sd3").items.index, "country", "source"]
    released = pd.DataFrame(json.loads(path.read_text()))
    missing = [c for c in key if c not in released.columns]
    if missing or len(released) != 300:
        raise PalignError(
            f"{path.name} should hold 300 subjects with {key[0]}..{key[26]}, country and source; "
            f"found {len(released)} rows, missing columns {missing}. {RESTORE}"
        )
    sd = load_sd3()
    first_row = (
        sd.reset_index()
        .astype({"country": str})
        .groupby(key, sort=False)["subject"]
        .min()
    )
    lookup = released[key].astype({"country": str})
    index = pd.MultiIndex.from_frame(lookup)
    found = first_row.reindex(index)
    if found.isna().any():
        lost = [
            int(i) for i in found.reset_index(drop=True).index[found.isna().to_numpy()]
        ]
        raise PalignError(
            f"{len(lost)} of the paper's 300 SD3 test subjects (positions {lost[:5]} in {path.name}) match no "
            f"row of data/sd3/data.csv. {RESTORE}"
        )
    rows = [int(r) for r in found.to_numpy()]
    if len(set(rows)) != len(rows):
        raise PalignError(
            f"{path.name} lists the same answer sheet twice; expected 300 distinct subjects. {RESTORE}"
        )
    return rows


@lru_cache(maxsize=None)
def sd3_paper_item_split() -> tuple[list[str], list[str]]:
    """The paper's Dark Triad split as (known item ids, test item ids): items 1-6 of each trait known, 7-9 tested.

    ``dark_triad_split.json`` holds 0-based positions in the item order M1..M9, N1..N9, P1..P9;
    they are turned into the inventory's item ids (18 known, 9 test), each list in inventory order.

    Introduced in :doc:`/notebooks/02_dataset_splits`.
    """
    path = _checked_paper_sd3_file(SD3_PAPER_FILES[1])
    split = json.loads(path.read_text())
    order = get_inventory("sd3").items.index.tolist()
    known, test = sorted(split["train_index"]), sorted(split["test_index"])
    if set(known) & set(test) or sorted(known + test) != list(range(len(order))):
        raise PalignError(
            f"{path.name} must split the {len(order)} SD3 items into disjoint known and test positions. {RESTORE}"
        )
    return [order[i] for i in known], [order[i] for i in test]


def load_answers(inventory: str) -> pd.DataFrame:
    """The shipped answers of an inventory: PAPI test set for ``ipip``, all respondents for ``sd3``."""
    return load_papi_test() if get_inventory(inventory).name == "ipip" else load_sd3()


@lru_cache(maxsize=None)
def paper_item_split() -> tuple[list[str], list[str]]:
    """The paper's IPIP split: 120 known items (IPIP-NEO-120 order) and 180 test items (ascending)."""
    path = _require_file(data_dir() / "papi" / "mpi_300_split.json")
    split = json.loads(path.read_text())
    return [f"i{n}" for n in split["train_index"]], [
        f"i{n}" for n in split["test_index"]
    ]


@lru_cache(maxsize=None)
def load_p2_personas() -> pd.Series:
    """The paper's shipped P2 persona texts (written by Llama-3-70B-Instruct), indexed by subject id."""
    path = _require_file(data_dir() / "papi" / "personality_prompt.json")
    texts = [row["output"][0] for row in json.loads(path.read_text())]
    return pd.Series(texts, index=load_papi_test().index, name="p2_persona")
