"""The layers of facedb (README, Architecture; docs/ARCHITECTURE.md), as a table of
which package may import which, checked over every module of facedb/: imports inside
functions included, and a name imported through a module that only re-exports it
counts as an import of the module that defines it. The table itself runs one way
(no arrow up), the modules' import graph has no cycle, and SQL is built only in
facedb/store."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "facedb"

# Units finer than a package: leaves that anything may use.
FINE_UNITS = ("events.metrics", "vision.types")
VALUES = frozenset(
    {
        "errors",
        "domain",
        "config",
        "secrets",
        "fsio",
        "numeric",
        "timezones",
        "csvout",
        "lazy_module",  # a module imported on first use (facedb/service.py)
        "version",  # facedb.__version__
        "events.metrics",  # the metrics registry: imports nothing of facedb
        "vision.types",  # the values that cross the vision boundary
    }
)
_DECIDING = frozenset({"decision", "identification", "matching", "policy"})
_BELOW_USE_CASES = VALUES | _DECIDING | {"store", "offline", "vision", "media", "evaluation"}
_USE_CASES = _BELOW_USE_CASES | {"usecases", "service"}

# unit -> the units it may import (besides itself). Read from the bottom up.
MAY_IMPORT: dict[str, frozenset[str]] = {
    # values
    "errors": frozenset(),
    "secrets": frozenset(),
    "fsio": frozenset({"errors"}),
    "numeric": frozenset(),
    "csvout": frozenset(),
    "lazy_module": frozenset(),
    "version": frozenset(),
    "events.metrics": frozenset(),
    "vision.types": frozenset(),
    "domain": frozenset({"errors"}),
    "config": frozenset({"errors"}),
    "timezones": frozenset({"errors"}),
    # infrastructure
    "media": VALUES,
    "vision": VALUES | {"media"},
    "identification": VALUES,
    # evaluation decides as the product does (evaluation/sequence.py: decision.judge_search)
    "evaluation": VALUES | {"decision", "identification", "media", "vision"},
    "store": VALUES,
    # deciding and matching
    "decision": VALUES | {"identification", "vision"},
    "matching": VALUES | {"store"},
    "policy": VALUES | {"decision", "identification", "matching", "store"},
    "offline": VALUES | {"store"},
    # use cases, and the facade over them
    "usecases": _BELOW_USE_CASES,
    "service": _BELOW_USE_CASES | {"usecases"},
    # subsystems on the use cases
    "timeattendance": VALUES | {"store", "usecases"},
    "review": _USE_CASES,
    "access": _USE_CASES,
    "importing": _USE_CASES,
    "events": _USE_CASES,
    "installation": _USE_CASES | {"access"},  # facedb init
    # front ends: the use cases, the facades and the subsystems, never what is below
    "watch": _USE_CASES,
    "api": VALUES
    | {"policy", "usecases", "service", "timeattendance", "review", "access"}
    | {"events", "facedb"},
    "cli": VALUES
    | {"policy", "usecases", "service", "timeattendance", "review", "access"}
    | {"events", "importing", "watch", "api", "facedb", "installation"},
    # the public API (facedb/__init__.py, lazy)
    "facedb": frozenset({"config", "errors", "service", "timeattendance", "usecases"}),
}

# Imports that break the table today, each with why; the test fails when one goes
# away (remove it here) or a new one appears.
KNOWN: dict[tuple[str, str], str] = {
    ("facedb.usecases.demo", "facedb.service"): "a use case of a FaceService, not a Runtime",
    ("facedb.usecases.models", "facedb.service"): "builds its own FaceService",
    ("facedb.usecases.payroll", "facedb.timeattendance.service"): (
        "a TimeAttendance of its own to find the people of a scope"
    ),
    ("facedb.cli.eval1n", "facedb.evaluation.openset"): (
        "OpenSetResult, re-exported by usecases.thresholds"
    ),
    ("facedb.cli.eval_sequence", "facedb.evaluation.sequence"): (
        "SequenceResult, re-exported by usecases.sequence_eval"
    ),
    # Store types that timeattendance and events.hooks re-export to the CLI: they
    # belong in facedb/domain.
    ("facedb.cli.corrections", "facedb.store.corrections"): "CorrectionInfo",
    ("facedb.cli.hooks", "facedb.store.outbox"): "Sink, SinkStatus",
    ("facedb.cli.org", "facedb.store.org"): "Membership",
    ("facedb.cli.schedules", "facedb.store.schedules"): "parse_weekdays",
    ("facedb.cli.timesheet", "facedb.store.timesheet"): "PersonTotals, TimesheetDay",
    ("facedb.api.console.timesheets", "facedb.store.timesheet"): "PersonTotals, TimesheetDay",
    ("facedb.api.console.today", "facedb.store.timesheet"): "TimesheetDay",
    ("facedb.api.console.setup", "facedb.store.schedules"): "parse_weekdays",
}


def unit_of(module: str) -> str:
    """The table's unit of a module of facedb."""
    rest = module.removeprefix("facedb").removeprefix(".")
    for fine in FINE_UNITS:
        if rest == fine or rest.startswith(fine + "."):
            return fine
    return rest.split(".", 1)[0] or "facedb"


@dataclass(frozen=True, eq=False)  # eq=False: each one reads its files afresh
class Package:
    """The modules of a source tree of facedb, read (never imported)."""

    root: Path

    @property
    @cache  # noqa: B019 (a handful of Package objects per run)
    def files(self) -> dict[str, Path]:
        found = {}
        for path in sorted(self.root.rglob("*.py")):
            parts = list(path.relative_to(self.root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
        return found

    @cache  # noqa: B019
    def tree(self, module: str) -> ast.Module:
        path = self.files[module]
        return ast.parse(path.read_text(encoding="utf-8"), str(path))

    @cache  # noqa: B019
    def origins(self, module: str) -> dict[str, str]:
        """Names a module imports at its top level: name -> the module it names."""
        found: dict[str, str] = {}
        for node in self.tree(module).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return found

    @cache  # noqa: B019
    def defines(self, module: str) -> frozenset[str]:
        names: set[str] = set()
        for node in self.tree(module).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
        return frozenset(names)

    def resolve(self, dotted: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The module of facedb that defines ``dotted`` (a module, or a name in one),
        through re-exports and a lazy ``__getattr__`` table; None: not facedb's."""
        if dotted in self.files:
            return dotted
        owner, _, name = dotted.rpartition(".")
        if owner not in self.files:
            return self.resolve(owner, seen) if owner.startswith("facedb") else None
        if owner == "facedb" and name == "__version__":
            return "facedb.__version__"
        if name in self.defines(owner) or dotted in seen:
            return owner
        origin = self.origins(owner).get(name) or self.lazy(owner).get(name)
        if origin is None:
            return owner
        return self.resolve(origin, seen | {dotted}) or owner

    @cache  # noqa: B019
    def lazy(self, module: str) -> dict[str, str]:
        """A PEP 562 package's lazy names: a module-level dict of name -> module."""
        for node in self.tree(module).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
                keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
                values = [v.value for v in node.value.values if isinstance(v, ast.Constant)]
                if keys and all(isinstance(v, str) and v.startswith("facedb") for v in values):
                    return {str(k): f"{v}.{k}" for k, v in zip(keys, values, strict=True)}
        return {}

    def imports(self, module: str) -> list[tuple[int, str]]:
        """Every module of facedb that ``module`` imports (anywhere in it), resolved."""
        found: list[tuple[int, str]] = []
        for node in ast.walk(self.tree(module)):
            names: Iterable[str] = ()
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                target = self.resolve(name) if name.startswith("facedb") else None
                if target is not None and target != module:
                    found.append((node.lineno, target))
        return found

    def graph(self) -> dict[str, set[str]]:
        return {m: {t for _, t in self.imports(m)} for m in self.files}


def _unit(target: str) -> str:
    return "version" if target == "facedb.__version__" else unit_of(target)


def violations(package: Package) -> dict[tuple[str, str], str]:
    """(module, imported module) -> where, for every import the table does not allow."""
    wrong = {}
    for module in package.files:
        mine = unit_of(module)
        for line, target in package.imports(module):
            theirs = _unit(target)
            if theirs != mine and theirs not in MAY_IMPORT[mine]:
                wrong[(module, target)] = f"{package.files[module].name}:{line}"
    return wrong


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules, in order), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


PACKAGE = Package(ROOT)


def test_every_module_belongs_to_a_unit_of_the_table() -> None:
    units = {unit_of(m) for m in PACKAGE.files}
    assert units <= set(MAY_IMPORT), f"not in the table: {sorted(units - set(MAY_IMPORT))}"


def test_the_table_runs_one_way() -> None:
    graph = {unit: set(allowed) for unit, allowed in MAY_IMPORT.items()}
    assert cycle(graph) is None, f"the table allows a cycle: {cycle(graph)}"


def test_every_import_is_one_the_table_allows() -> None:
    wrong = violations(PACKAGE)
    new = {k: v for k, v in wrong.items() if k not in KNOWN}
    assert not new, "imports the layers do not allow:\n" + "\n".join(
        f"{where}: {module} imports {target}" for (module, target), where in sorted(new.items())
    )
    gone = sorted(set(KNOWN) - set(wrong))
    assert not gone, f"no longer imported, remove from KNOWN: {gone}"


def test_the_modules_import_no_cycle() -> None:
    found = cycle(PACKAGE.graph())
    assert found is None, "an import cycle: " + " -> ".join(found or [])


# Outside facedb/store, SQLAlchemy is a transaction handle passed through (Session),
# its errors, and the engine's events (the SQL timing of events/monitoring.py):
# statements are built and run only in the store.
SQLALCHEMY_OUTSIDE_THE_STORE = ("sqlalchemy.orm.Session", "sqlalchemy.exc.", "sqlalchemy.event")


def sql_outside_the_store(package: Package) -> list[str]:
    found = []
    for module, path in package.files.items():
        if module == "facedb.store" or module.startswith("facedb.store."):
            continue
        for node in ast.walk(package.tree(module)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".", 1)[0] == "sqlalchemy" and not name.startswith(
                    SQLALCHEMY_OUTSIDE_THE_STORE
                ):
                    found.append(f"{path.name}:{node.lineno}: {module} imports {name}")
    return found


def test_sql_only_in_the_store() -> None:
    found = sql_outside_the_store(PACKAGE)
    assert not found, "SQL outside facedb/store:\n" + "\n".join(found)


@pytest.fixture
def copy(tmp_path: Path) -> Package:
    target = tmp_path / "facedb"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return Package(target)


@pytest.mark.parametrize(
    ("module", "line", "forbidden"),
    [
        # a lazy import inside a function, of a package below the front ends
        ("cli/users.py", "def _f():\n    from facedb.store.gallery import get_user\n", "store"),
        # a store type through a package that only re-exports it
        ("api/faces.py", "from facedb.timeattendance import PeriodInfo\n", "store"),
        # an arrow up: the store importing a use case
        ("store/gallery.py", "def _f():\n    import facedb.usecases.people\n", "usecases"),
        # the metrics registry importing facedb (it is a leaf)
        ("events/metrics.py", "from facedb.config import Settings\n", "config"),
    ],
)
def test_the_check_fails_on_a_forbidden_import(
    copy: Package, module: str, line: str, forbidden: str
) -> None:
    path = copy.root / module
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + line, encoding="utf-8")
    added = {
        key: where
        for key, where in violations(copy).items()
        if key not in KNOWN and _unit(key[1]) == forbidden
    }
    assert added, f"{module} importing {forbidden} was not caught"


def test_the_check_finds_sql_outside_the_store(copy: Package) -> None:
    path = copy.root / "usecases" / "people.py"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n\ndef _f():\n    from sqlalchemy import select\n",
        encoding="utf-8",
    )
    assert sql_outside_the_store(copy) == [
        f"people.py:{len(path.read_text().splitlines())}: facedb.usecases.people imports "
        "sqlalchemy.select"
    ]


def test_the_check_finds_a_cycle(copy: Package) -> None:
    assert cycle(copy.graph()) is None
    path = copy.root / "errors.py"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n\ndef _f():\n    from facedb import config\n",
        encoding="utf-8",
    )
    assert cycle(Package(copy.root).graph()) is not None  # config imports errors
