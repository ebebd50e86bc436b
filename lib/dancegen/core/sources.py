"""The package's own source files that a module depends on, and a hash of them.

A persisted result (a training checkpoint) belongs to the code that computed it: its fingerprint
holds :func:`code_hash` of the training module's import closure, so a changed loss, network or
data builder starts a fresh run instead of resuming a stale one. The closure is read statically
from the ``import`` statements (every import inside ``dancegen``, at any depth of the file, lazy
ones included), so it does not depend on what a process happened to import before. A package
that imports its modules by name at run time (:data:`BY_NAME`, the variants) counts as importing
every module in it.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "dancegen"
ROOT = Path(__file__).resolve().parent.parent   # lib/dancegen/
# Packages whose modules are imported by name at run time (importlib), not by an import statement.
BY_NAME = ("dancegen.model.variants",)


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """``dancegen.a.b`` → lib/dancegen/a/b.py (or a/b/__init__.py); None when no such file."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, name: str, root: Path) -> set[str]:
    """Names of the package's modules that the file ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            found.add(base)
            # `from dancegen import losses` names a module; `from dancegen.x import f` a function.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for candidate in found:
        if module_file(candidate, root) is not None:
            modules.add(candidate)
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
            parts = candidate.split(".")
            modules.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return modules


def import_closure(name: str, root: Path = ROOT) -> list[Path]:
    """Source files of module ``name`` and of every package module it imports, transitively, sorted."""
    return _closure([name], root)


def script_closure(script: Path, root: Path = ROOT) -> list[Path]:
    """Source files of the package that a script outside it (``stages/x.py``) imports, transitively."""
    return _closure(sorted(_imported(script, "__main__", root)), root)


def _closure(names: list[str], root: Path) -> list[Path]:
    seen: dict[str, Path] = {}
    todo = list(names)
    while todo:
        current = todo.pop()
        path = module_file(current, root)
        if current in seen or path is None:
            continue
        seen[current] = path
        todo.extend(_imported(path, current, root))
        if current in BY_NAME:
            todo.extend(f"{current}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py")
    return sorted(set(seen.values()))


def code_hash(name: str, root: Path = ROOT) -> str:
    """sha256 (16 hex digits) over the relative paths and contents of :func:`import_closure`."""
    digest = hashlib.sha256()
    for path in import_closure(name, root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
