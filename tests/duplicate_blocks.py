"""A small finder of repeated code: blocks of N or more lines that stand twice in a set of Python files.

Two blocks count as repeated when their lines are the same after folding white space, or have the
same *shape*: the same tokens once every name, number and string is replaced by a placeholder
(so a copy with renamed variables is found too). Like the ``duplicates`` tool, it passes over what
is not code: blank lines, comments, docstrings, import statements and lines of lone punctuation;
and lines that hold only plain literals (the prose of a long error message, the rows of a table of
names). An f-string counts by the expressions it formats (``f"got {tuple(x.shape)}"`` has the shape
``F{N(N.N)}``), so a copied check with a copied message is found too. A ``def`` signature counts as one line however many lines its parameters are wrapped over,
and so does a run of annotated fields (``name: Type``, a dataclass's signature): each declares one
thing, so two long parameter lists are not six repeated lines.

    python tests/duplicate_blocks.py dat_edu        # prints one line per repeated pair
"""

from __future__ import annotations

import io
import re
import keyword
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

SKIP_TYPES = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
              tokenize.ENCODING, tokenize.ENDMARKER}
LITERALS = {tokenize.STRING, tokenize.NUMBER}
PUNCTUATION = set("()[]{},:;")


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the file (of its first token)
    exact: str
    shape: str


def _statements(source: str) -> list[list[tokenize.TokenInfo]]:
    """Tokens grouped into logical lines (statements); comments and blank lines dropped."""
    out, current = [], []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NEWLINE:
            if current:
                out.append(current)
            current = []
        elif tok.type not in SKIP_TYPES:
            current.append(tok)
    if current:
        out.append(current)
    return out


def _is_fstring(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.STRING and re.match(r"^[rbuRBU]*[fF]", tok.string) is not None


def _shape(tok: tokenize.TokenInfo) -> str:
    if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
        return "N"
    if tok.type == tokenize.NUMBER:
        return "0"
    if tok.type == tokenize.STRING:
        if _is_fstring(tok):  # the formatted expressions, names replaced
            return "F" + "".join(re.sub(r"[A-Za-z_]\w*", "N", m) for m in re.findall(r"\{[^{}]*\}", tok.string))
        return "S"
    return tok.string


def _units(statement: list[tokenize.TokenInfo]) -> list[list[tokenize.TokenInfo]]:
    """The counted lines of one statement: none for docstrings and imports, one for a def signature,
    else one per physical line."""
    first = statement[0]
    if first.string in ("import", "from") or all(t.type == tokenize.STRING for t in statement):
        return []
    if first.string in ("def", "async"):
        return [statement]
    by_line: dict[int, list[tokenize.TokenInfo]] = {}
    for tok in statement:
        by_line.setdefault(tok.start[0], []).append(tok)
    return [by_line[n] for n in sorted(by_line)]


def _is_annotation(statement: list[tokenize.TokenInfo]) -> bool:
    """``name: Type`` or ``name: Type = value``: a field of a dataclass (or an annotated variable)."""
    return len(statement) > 2 and statement[0].type == tokenize.NAME and statement[1].string == ":"


def code_lines(source: str) -> list[Line]:
    """The counted lines of a Python source, each with its exact and its shape key."""
    units: list[list[tokenize.TokenInfo]] = []
    previous_annotation = False
    for statement in _statements(source):
        annotation = _is_annotation(statement)
        if annotation and previous_annotation:
            units[-1] = units[-1] + statement  # a run of fields is one declaration, like a signature
        else:
            units += [statement] if annotation else _units(statement)
        previous_annotation = annotation
    lines = []
    for toks in units:
        if all((t.type in LITERALS and not _is_fstring(t)) or t.string in PUNCTUATION for t in toks):
            continue  # lone punctuation, or literals only (message prose, table rows)
        lines.append(Line(toks[0].start[0], " ".join(t.string for t in toks), " ".join(map(_shape, toks))))
    return lines


@dataclass(frozen=True)
class Repeat:
    first: tuple[str, int, int]  # file, first line, last line
    second: tuple[str, int, int]
    kind: str  # "same lines" or "same shape"

    def __str__(self) -> str:
        (f1, a1, b1), (f2, a2, b2) = self.first, self.second
        return f"{f1}:{a1}-{b1} ~ {f2}:{a2}-{b2} ({self.kind})"


def find_repeats(files: dict[str, str], min_lines: int = 6) -> list[Repeat]:
    """Every pair of places (in different files, or not overlapping in one) sharing ``min_lines``
    consecutive counted lines. Overlapping windows of one repeated run are merged into one pair."""
    seen: dict[tuple[str, tuple[str, ...]], list[tuple[str, int]]] = {}
    lines = {name: code_lines(src) for name, src in files.items()}
    for name, ls in lines.items():
        for i in range(len(ls) - min_lines + 1):
            window = ls[i: i + min_lines]
            for kind, key in (("same lines", tuple(l.exact for l in window)), ("same shape", tuple(l.shape for l in window))):
                seen.setdefault((kind, key), []).append((name, i))
    pairs: dict[tuple, Repeat] = {}
    for (kind, _), places in seen.items():
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (f1, i1), (f2, i2) = places[a], places[b]
                if f1 == f2 and abs(i1 - i2) < min_lines:
                    continue  # a run overlapping itself (e.g. six equal lines in a row)
                start = (f1, f2, i1 - i2)  # one entry per aligned run, whatever window of it
                l1, l2 = lines[f1], lines[f2]
                rep = Repeat((f1, l1[i1].number, l1[i1 + min_lines - 1].number),
                             (f2, l2[i2].number, l2[i2 + min_lines - 1].number), kind)
                old = pairs.get(start)
                if old is None or (old.kind == "same shape" and kind == "same lines"):
                    pairs[start] = rep
    return sorted(pairs.values(), key=str)


def library_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.py"))}


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "dat_edu")
    repeats = find_repeats(library_files(root))
    print("\n".join(map(str, repeats)) or "no repeated blocks")
