"""Static reading of notebook source (never executed): what the judge and the generator check.

* For the judge, on a learner's notebook: where each name is defined, which names a function's
  source refers to (``forbid_calls``' static part), and the patterns that could defeat the
  sandbox's interception of forbidden functions (reported as "flagged for review").
* For the generator, on a solution's check cells: the rules that make a check gradable by a judge
  that can only *call* the learner's functions (:func:`gradable_problem`).
"""
from __future__ import annotations

import ast
from typing import Iterable


def parse(source: str) -> ast.Module | None:
    """The AST of a cell (IPython magics turned into Python first), or None if it does not parse."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def top_level_names(tree: ast.Module) -> dict[str, ast.AST]:
    """Names a cell binds at top level (def, class, assignment, import), each with its statement."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                out[(alias.asname or alias.name).split(".")[0]] = node
        else:
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    out[n.id] = node
    return out


def referenced_names(node: ast.AST) -> frozenset[str]:
    """Every name and attribute name a statement refers to (like a code object's ``co_names``)."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, ast.alias):
            names.update(n.name.split("."))
    return frozenset(names)


def code_names(node: ast.AST) -> frozenset[str]:
    """The names a definition's code refers to, like ``co_names`` of its code object: a function's
    body (not its defaults or decorators, which run where it is defined), a class's ``forward`` and
    ``__call__``, a lambda's body. Other statements bind values: nothing to read."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return frozenset().union(*(referenced_names(n) for n in node.body))
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in ("forward", "__call__")]
        return frozenset().union(*(code_names(m) for m in methods)) if methods else frozenset()
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
        return referenced_names(node.value.body)
    return frozenset()


def definitions(sources: list[str]) -> dict[str, tuple[int, ast.AST]]:
    """name -> (cell position, statement) of its last top-level definition."""
    out: dict[str, tuple[int, ast.AST]] = {}
    for pos, source in enumerate(sources):
        tree = parse(source)
        if tree is not None:
            for name, node in top_level_names(tree).items():
                out[name] = (pos, node)
    return out


# ---------------------------------------------------------------- review flags ---

_MODULES = {
    "importlib": "imports modules by name", "inspect": "inspects frames or code", "gc": "walks the garbage collector",
    "ctypes": "calls C directly", "marshal": "builds code objects", "pickle": "unpickles objects", "dill": "unpickles objects",
    "cloudpickle": "unpickles objects", "runpy": "runs code by name", "builtins": "changes builtins", "code": "runs code",
    "codeop": "compiles code", "signal": "changes signal handlers", "_thread": "starts low-level threads",
    "torch._C": "uses PyTorch internals", "torch.library": "registers operators", "torch.overrides": "changes torch overrides",
    "torch.utils._python_dispatch": "changes dispatch modes", "torch._ops": "calls operators directly",
    "dat_edu.course": "reaches into the grading machinery",
}
_LEARNER_API = ("dat_edu.course.checks",)  # what exercises import themselves
_ATTRS = {
    "_C": "uses PyTorch internals (torch._C)", "ops": "calls PyTorch operators directly (torch.ops)",
    "library": "registers operators (torch.library)", "_python_dispatch": "changes dispatch modes",
    "TorchDispatchMode": "changes dispatch modes", "TorchFunctionMode": "changes torch function modes",
    "__code__": "reads or replaces code objects", "__globals__": "reads a function's globals",
    "__closure__": "reads closures", "__builtins__": "changes builtins", "__subclasses__": "walks classes",
    "__import__": "imports by name", "modules": "reads sys.modules", "_getframe": "inspects frames",
    "settrace": "traces execution", "setprofile": "profiles execution", "meta_path": "changes the import system",
    "addaudithook": "adds audit hooks", "FunctionType": "builds functions", "CodeType": "builds code objects",
    "fdopen": "opens file descriptors", "dup": "duplicates file descriptors", "dup2": "duplicates file descriptors",
}
_CALLS = {
    "eval": "evaluates strings as code", "exec": "executes strings as code", "compile": "compiles strings",
    "globals": "reads its globals dictionary", "vars": "reads a namespace dictionary", "locals": "reads locals",
    "__import__": "imports by name", "setattr": "sets attributes by name", "delattr": "deletes attributes by name",
    "get_ipython": "drives the IPython shell", "breakpoint": "starts a debugger",
}
_OS_FD = {"read", "write", "open", "close", "dup", "dup2", "fdopen", "pipe", "kill", "killpg"}


def _import_flags(node: ast.AST) -> Iterable[str]:
    if isinstance(node, ast.Import):
        mods = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
        mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    else:
        return
    for mod in mods:
        if any(mod == ok or mod.startswith(ok + ".") for ok in _LEARNER_API):
            continue
        for bad, why in _MODULES.items():
            if mod == bad or mod.startswith(bad + "."):
                yield f"{why} (import {mod})"
                return
        if mod in ("os", "posix") and isinstance(node, ast.ImportFrom):
            if any(a.name in _OS_FD for a in node.names):
                yield f"uses file descriptors or signals directly (from {mod} import ...)"


def flags(sources: list[tuple[int, str]]) -> list[str]:
    """Patterns that could defeat the interception of forbidden functions, with where they are.

    ``sources`` are (cell number as shown to the instructor, source) of the learner's code cells.
    """
    found: list[str] = []
    for cell_no, source in sources:
        tree = parse(source)
        if tree is None:
            continue
        modules = {n for n, node in top_level_names(tree).items() if isinstance(node, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            whys: list[str] = list(_import_flags(node))
            if isinstance(node, ast.Attribute) and node.attr in _ATTRS:
                whys.append(_ATTRS[node.attr])
            if isinstance(node, ast.Attribute) and node.attr in _OS_FD and isinstance(node.value, ast.Name) and node.value.id == "os":
                whys.append(f"uses file descriptors or signals directly (os.{node.attr})")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name == "getattr" and not (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                    whys.append("reads attributes by computed name (getattr)")
                elif name in _CALLS:
                    whys.append(_CALLS[name])
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    root = _root(t)
                    if isinstance(t, ast.Attribute) and root in modules:
                        whys.append(f"replaces a library attribute ({root}....{t.attr} = ...)")
            for why in dict.fromkeys(whys):
                line = getattr(node, "lineno", "?")
                text = f"cell {cell_no}, line {line}: {why}"
                if text not in found:
                    found.append(text)
    return found


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


# ---------------------------------------------------------------- gradable checks

def gradable_problem(check_source: str, uses: Iterable[str], earlier_sources: list[str]) -> str | None:
    """Why a check cell could not be graded by the judge, or None.

    When graded, a check runs in the judge while the learner's functions run in the sandbox:
    a learner function (a ``def`` or ``class`` named in ``uses``) can only be called or passed on
    to a call, and a library function replaced in the check would not reach the learner's code.
    """
    tree = parse(check_source)
    if tree is None:
        return None  # the generator reports syntax errors itself
    defined = definitions(earlier_sources)
    callables = {u for u in uses if u in defined and isinstance(defined[u][1], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    modules = {name for name, (_, node) in defined.items() if isinstance(node, (ast.Import, ast.ImportFrom))}
    modules |= {n for n, node in top_level_names(tree).items() if isinstance(node, (ast.Import, ast.ImportFrom))}
    allowed: set[int] = set()  # ids of Name nodes used as a call or a call argument
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for n in [node.func, *node.args, *(k.value for k in node.keywords)]:
                if isinstance(n, ast.Starred):
                    n = n.value
                allowed.add(id(n))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and _root(t) in modules:
                    return (f"line {t.lineno}: the check replaces `{ast.unparse(t)}`; when graded, the learner's code "
                            "runs in another process that this does not reach: use forbid_calls or record_calls")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and _root(node.args[0]) in modules:
                return f"line {node.lineno}: the check changes a library attribute with {node.func.id}(); use forbid_calls or record_calls"
        if isinstance(node, ast.Name) and node.id in callables and isinstance(node.ctx, ast.Load) and id(node) not in allowed:
            return (f"line {node.lineno}: the check uses `{node.id}` other than by calling it or passing it to a call; "
                    f"when graded, `{node.id}` stands for the learner's function in the sandbox and can only be called")
        if isinstance(node, ast.Global):
            return f"line {node.lineno}: a check cell must not declare globals"
    return None
