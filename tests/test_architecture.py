"""The shape of the house: no import cycle, small modules, a configuration reference that matches the code."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "searchtune"


def modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imports(name: str, path: Path, known) -> set[str]:
    """The searchtune modules ``name`` imports anywhere in its body (function-level imports too)."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):  # a package's own __init__ is not a cycle
                found.add(t)
    return found


def test_no_module_imports_back_a_module_that_imports_it():
    known = modules()
    graph = {m: imports(m, p, known) for m, p in known.items()}
    cycles = []

    def visit(m, path, seen):
        for t in graph[m]:
            if t == path[0]:
                cycles.append(path + [t])
            elif t not in seen:
                seen.add(t)
                visit(t, path + [t], seen)

    for m in graph:
        visit(m, [m], {m})
    assert not cycles, f"import cycles: {cycles[:3]}"


def test_no_package_imports_back_a_package_that_imports_it():
    known = modules()
    top = {m: ".".join(m.split(".")[:2]) for m in known}
    graph: dict[str, set[str]] = {}
    for m, p in known.items():
        graph.setdefault(top[m], set()).update(top[t] for t in imports(m, p, known) if top[t] != top[m])
    state: dict[str, str] = {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            assert state.get(t) != "open", f"packages import each other: {' -> '.join(path + [t])}"
            if t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_module_is_two_ideas():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420}
    assert not long, f"modules over ~400 lines: {long}"


def test_the_configuration_reference_is_current():
    from searchtune.config.reference import markdown

    assert (ROOT / "docs" / "config-reference.md").read_text() == markdown(), \
        "docs/config-reference.md is stale: python -m searchtune.config.reference > docs/config-reference.md"


def test_every_file_searchtune_writes_goes_to_a_temp_file_first():
    """A crash never leaves half a record: writes go through ``files.write_text``/``write_json`` (temp + rename),
    or into a temp file or folder that is renamed once complete. (Logs are appended a line at a time; their
    readers skip a line cut off.)"""
    import re

    direct = re.compile(r"\.(write_text|write_bytes)\(|open\([^)]*['\"]wb?['\"]")
    found = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if p.name != "files.py"
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if direct.search(line) and "tmp" not in line and not line.lstrip().startswith("#")]
    assert not found, f"written in place: {found}"
