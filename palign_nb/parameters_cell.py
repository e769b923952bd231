"""A notebook's ``parameters`` cell: the names and literal defaults it declares.

The book's one parser of that cell, for the chapter context (:func:`palign_nb.context.chapter`),
``palign-run`` (:mod:`palign_nb.run_plan`) and the hygiene tests.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from .errors import PalignError


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The names and literal defaults assigned in a notebook's ``parameters`` cell, in order: the book's one
    parser of it (the chapter context, ``palign-run`` and the hygiene tests). Each statement must be
    ``name: type = literal``; anything else is refused with the line to fix."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise PalignError(
            f"{Path(notebook).name} needs exactly one cell tagged `parameters`, found {len(tagged)}."
        )
    values: dict[str, Any] = {}
    for stmt in ast.parse("".join(tagged[0]["source"])).body:
        where = f"{Path(notebook).name}, parameters cell line {stmt.lineno}"
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
            raise PalignError(
                f"{where}: only `name: type = literal` assignments are allowed (derive values in the "
                "next cell: papermill injects overrides after this one)."
            )
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if not all(isinstance(t, ast.Name) for t in targets):
            raise PalignError(f"{where}: assign to plain names.")
        try:
            value = ast.literal_eval(stmt.value)
        except ValueError:
            raise PalignError(
                f"{where}: `{ast.unparse(stmt.value)}` is not a literal."
            ) from None
        values.update({t.id: value for t in targets})
    return values


def declared_parameter_names(notebook: Path) -> list[str]:
    """The names assigned in a notebook's ``parameters`` cell, in order."""
    return list(declared_parameters(notebook))
