"""No block of six or more lines (the same, or the same shape with other names) repeats in dat_edu."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from duplicate_blocks import find_repeats, library_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

BLOCK = '''
def pair_size(size, name):
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f"{name} must be an int or a pair (H, W), got {size}")
    return size
'''


def test_the_library_repeats_no_block_of_six_lines():
    repeats = find_repeats(library_files(ROOT / "dat_edu"))
    assert not repeats, "repeated code in dat_edu (give the rule one owner):\n" + "\n".join(map(str, repeats))


def test_a_planted_copy_is_found_renamed_or_not(tmp_path):
    renamed = (BLOCK.replace("pair_size", "as_hw").replace("size", "value").replace("name", "what"))
    files = {"a.py": "import torch\n" + BLOCK, "b.py": "x = 1\n" + BLOCK, "c.py": renamed}
    kinds = {(r.first[0], r.second[0]): r.kind for r in find_repeats(files)}
    assert kinds[("a.py", "b.py")] == "same lines"
    assert kinds[("a.py", "c.py")] == kinds[("b.py", "c.py")] == "same shape"
    # the test of the library reads real files: the same copies planted on disk fail it too
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert len(find_repeats(library_files(tmp_path))) == 3


def test_a_copy_in_the_same_file_is_found_and_five_lines_are_not():
    assert len(find_repeats({"a.py": BLOCK + "\n\n" + BLOCK.replace("pair_size", "other")})) == 1
    five = "\n".join(BLOCK.strip().splitlines()[:-2])  # def + 4 lines: below the threshold
    assert find_repeats({"a.py": five, "b.py": five}) == []


def test_declarations_prose_and_imports_are_not_code_lines():
    signature = "def f(\n" + "".join(f"    p{i}: int = {i},\n" for i in range(9)) + ") -> None:\n    return None\n"
    table = "NAMES = {\n" + "".join(f'    "n{i}": "m{i}",\n' for i in range(9)) + "}\n"
    message = "raise ValueError(\n" + "".join(f'    "line {i} of the message "\n' for i in range(9)) + ")\n"
    imports = "".join(f"import m{i}\n" for i in range(9))
    fields = "class A:\n" + "".join(f"    f{i}: int\n" for i in range(9))
    files = {f"{k}{n}.py": v for k, v in dict(sig=signature, tab=table, msg=message, imp=imports, fld=fields).items()
             for n in (1, 2)}
    assert find_repeats(files) == []
