"""Wrap what ``ruff format`` leaves over the line length in the chapters' code cells.

ruff formats code but never splits a string or a comment. This tool does, without changing what the
code does: a full-line comment is rewrapped at the same indentation; a trailing comment moves onto
its own lines above its statement; a string literal inside brackets is split at spaces into adjacent
literals (Python joins them: the value is the same); an import ruff split one name per line is packed
into a few ``from x import a, b`` lines. The ``parameters`` cell is left as it is (its
trailing comments are papermill's help texts). Run ``ruff format`` after it.

    python tools/wrap_notebook_lines.py [--check] notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import textwrap
import tokenize
from pathlib import Path

LIMIT = 88


def _wrap_comment(indent: str, text: str) -> list[str]:
    body = text.lstrip("#").strip()
    return [
        f"{indent}# {part}"
        for part in textwrap.wrap(body, LIMIT - len(indent) - 2, break_on_hyphens=False)
    ]


def _split_string(token: str, first_room: int, room: int) -> list[str] | None:
    """``token`` (a string literal) as adjacent literals, the first at most ``first_room`` wide and the others
    ``room``, split after spaces outside ``{...}`` of an f-string; None when it cannot be split."""
    match = re.match(r"([rRbBuUfF]*)('''|\"\"\"|'|\")", token)
    if not match or match[2] in ("'''", '"""'):
        return None
    prefix, quote = match[1], match[2]
    body = token[len(prefix) + 1 : -1]
    is_f = "f" in prefix.lower()
    # the positions after which a split may go: after a space, outside braces
    depth, cuts = 0, []
    i = 0
    while i < len(body):
        ch = body[i]
        if is_f and ch in "{}":
            if i + 1 < len(body) and body[i + 1] == ch:  # an escaped brace
                i += 2
                continue
            depth += 1 if ch == "{" else -1
        elif ch == "\\":
            i += 2
            continue
        elif ch == " " and depth == 0:
            cuts.append(i + 1)
        i += 1
    pieces, start, width = [], 0, first_room
    while len(body) - start + len(prefix) + 2 > width:
        fits = [c for c in cuts if start < c and c - start + len(prefix) + 2 <= width]
        if not fits:
            break
        pieces.append(body[start : fits[-1]])
        start, width = fits[-1], room
    pieces.append(body[start:])
    if len(pieces) == 1:
        return None
    return [
        f"{prefix if (not is_f or '{' in p or '}' in p) else prefix.replace('f', '').replace('F', '')}{quote}{p}{quote}"
        for p in pieces
    ]


def lift_bracket_comments(source: str) -> str:
    """A trailing comment on a line that starts with a closing bracket (``)  # ...``, where ruff put the comment
    of a statement it had to split) moves above the statement, so ruff can join the statement again."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    lines = source.split("\n")
    opened: list[int] = []  # the line of each open bracket
    statement_start = {}  # closing line -> the line its outermost bracket opened on
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            opened.append(tok.start[0])
        elif tok.type == tokenize.OP and tok.string in ")]}" and opened:
            start = opened.pop()
            if not opened:
                statement_start[tok.start[0]] = start
    moves = []
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        number = tok.start[0]
        code = lines[number - 1][: tok.start[1]]
        if re.match(r"\s*[)\]}]", code) and number in statement_start:
            moves.append((statement_start[number], number, tok.start[1], tok.string))
    for start, number, column, comment in sorted(moves, reverse=True):
        lines[number - 1] = lines[number - 1][:column].rstrip()
        indent = re.match(r"\s*", lines[start - 1])[0]
        lines[start - 1 : start - 1] = _wrap_comment(indent, comment)
    return "\n".join(lines)


_EXPLODED_IMPORT = re.compile(
    r"^from ([\w.]+) import \(\n((?:    [^\n]+,\n)+)\)\n", re.M
)


def pack_imports(source: str) -> str:
    """An import ruff split one name per line, packed into as few ``from x import a, b`` lines as fit."""

    def packed(match: re.Match) -> str:
        prefix, lines, names = f"from {match[1]} import ", [], []
        for name in (n.strip().rstrip(",") for n in match[2].splitlines() if n.strip()):
            if names and len(prefix + ", ".join(names + [name])) > LIMIT:
                lines.append(prefix + ", ".join(names))
                names = []
            names.append(name)
        return "\n".join(lines + [prefix + ", ".join(names)]) + "\n"

    return _EXPLODED_IMPORT.sub(packed, source)


def wrap_source(source: str) -> str:
    """The cell's code with its long comments and bracketed string literals wrapped (see the module docstring)."""
    source = pack_imports(lift_bracket_comments(source))
    lines = source.split("\n")
    out: list[str] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    depth_at: dict[tuple[int, int], int] = {}
    depth = 0
    strings: dict[int, list[tokenize.TokenInfo]] = {}
    comments: dict[int, tokenize.TokenInfo] = {}
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.STRING and tok.start[0] == tok.end[0]:
            depth_at[tok.start] = depth
            strings.setdefault(tok.start[0], []).append(tok)
        elif tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok
    for number, line in enumerate(lines, start=1):
        if len(line) <= LIMIT:
            out.append(line)
            continue
        indent = re.match(r"\s*", line)[0]
        comment = comments.get(number)
        if comment is not None and line.strip().startswith("#"):
            out += _wrap_comment(indent, line.strip())
            continue
        if (
            comment is not None
        ):  # a noqa of F811 is not needed: the notebooks' ruff.toml ignores it (exercises)
            code = line[: comment.start[1]].rstrip()
            out += _wrap_comment(
                indent, re.sub(r"^#\s*noqa: F811\s*", "# ", comment.string)
            )
            line = code
            if len(line) <= LIMIT:
                out.append(line)
                continue
        long_strings = [t for t in strings.get(number, []) if len(t.string) > 20]
        if len(long_strings) == 1:
            tok = long_strings[0]
            head, tail = line[: tok.start[1]], line[tok.end[1] :]
            inner = indent + "    "
            if (
                depth_at[tok.start] > 0
            ):  # inside brackets: adjacent literals on the following lines join
                parts = _split_string(
                    tok.string, LIMIT - len(head), LIMIT - len(inner) - len(tail)
                )
                if parts:
                    out += (
                        [head + parts[0]]
                        + [inner + q for q in parts[1:-1]]
                        + [inner + parts[-1] + tail]
                    )
                    continue
            elif (
                re.fullmatch(r"\s*[\w.\[\]\"']+ (?:=|\+=) ", head) and not tail.strip()
            ):  # x = "...": in brackets
                parts = _split_string(
                    tok.string, LIMIT - len(inner), LIMIT - len(inner)
                )
                if parts:
                    out += [head + "("] + [inner + q for q in parts] + [indent + ")"]
                    continue
        docstring = re.fullmatch(r'(\s*)"""(.*)"""', line)
        if (
            docstring and '"""' not in docstring[2]
        ):  # a one-line docstring: wrapped over several lines
            body = textwrap.wrap(
                docstring[2], LIMIT - len(indent) - 3, break_on_hyphens=False
            )
            out += (
                [f'{indent}"""{body[0]}']
                + [indent + part for part in body[1:]]
                + [f'{indent}"""']
            )
            continue
        out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="only list the code lines over the limit"
    )
    args = parser.parse_args(argv)
    long_lines = 0
    for path in args.notebooks:
        nb = json.loads(path.read_text())
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code" or "parameters" in cell.get(
                "metadata", {}
            ).get("tags", []):
                continue
            source = "".join(cell["source"])
            if not args.check:
                source = wrap_source(source)
                cell["source"] = source.splitlines(keepends=True)
            for line in source.splitlines():
                if len(line) > LIMIT:
                    long_lines += 1
                    print(
                        f"{path.name} cell {index}: {len(line)} > {LIMIT}: {line.strip()[:60]}"
                    )
        if not args.check:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return 1 if args.check and long_lines else 0


if __name__ == "__main__":
    sys.exit(main())
