"""The floor plan of docs/architecture.md, checked on the source: no import runs from a lower
layer to a higher one, domains of one layer stay independent, the core names no simulator or
test double, adapters see only the kit, and only lgsp.deliveries writes delivery rows."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "lgsp"
ADAPTERS = ROOT / "adapters" / "lgsp_adapters"

# Bottom to top. A module may import its own layer's modules or lower layers' only.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("kit", ("lgsp.kit", "lgsp.settings")),
    (
        "domains",
        (
            "lgsp.auth",
            "lgsp.directory",
            "lgsp.validation",
            "lgsp.messagelog",
            "lgsp.deliveries",
            "lgsp.processes",
        ),
    ),
    # Metrics sit here: their endpoint is guarded by auth, and the flows count into them.
    ("platform", ("lgsp.adapterpool", "lgsp.platform", "lgsp.observability")),
    ("flows", ("lgsp.exchange", "lgsp.relay", "lgsp.mediation")),
    ("admin", ("lgsp.admin",)),
    (
        "entry",
        (
            "lgsp.app",
            "lgsp.cli",
            "lgsp.devsetup",
            "lgsp.background",
            "lgsp.docs_ui",
            "lgsp.models",
            "lgsp.migrations",
            "lgsp",
        ),
    ),
]
# Packages of these layers are independent of each other, except for these (importer, imported).
INDEPENDENT = ("domains", "flows")
ALLOWED_SIDEWAYS = {("lgsp.relay", "lgsp.exchange")}
# The core may import these parts of the adapter distribution: the contract and the registry.
ADAPTER_CONTRACT = ("lgsp_adapters.base", "lgsp_adapters.registry")
# What the adapters may use of the core: its plumbing, and the shared formats of identifiers
# (pure functions over strings, e.g. the phone numbers an SMS gateway transform checks).
ADAPTERS_MAY_IMPORT = ("lgsp.kit.", "lgsp.validation.formats.")
NEVER_IN_CORE = ("lgsp_sims", "lgsp_testkit")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    type_only: bool


def module_name(path: Path) -> str:
    names = list(path.relative_to(ROOT).with_suffix("").parts)
    if names[0] == "adapters":  # adapters/<distribution>/<package>/...
        names = names[1:]
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    importer = module_name(path)
    type_only = _type_checking_lines(tree)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, node.lineno, node.lineno in type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                # `from lgsp.x import y` may name a module y: count the deepest known one.
                yield Import(
                    importer, f"{base}.{alias.name}", node.lineno, node.lineno in type_only
                )


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "versions" not in p.parts)


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, the package that placed it there); endpoints modules are entry points."""
    if re.fullmatch(r"lgsp\.\w+\.endpoints(\..*)?", module):
        return len(LAYERS) - 1, module.rsplit(".", 1)[0]
    best: tuple[int, str] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    return best


def layer_violations(imports: list[Import]) -> list[str]:
    found = []
    for imp in imports:
        if imp.type_only or not imp.imported.startswith("lgsp."):
            continue
        source, target = layer_of(imp.importer), layer_of(imp.imported)
        assert source is not None, f"{imp.importer} is in no layer of docs/architecture.md"
        assert target is not None, f"{imp.imported} is in no layer of docs/architecture.md"
        (src_layer, src_pkg), (dst_layer, dst_pkg) = source, target
        where = f"{imp.importer}:{imp.line} imports {imp.imported}"
        if dst_layer > src_layer:
            found.append(f"{where} ({LAYERS[src_layer][0]} below {LAYERS[dst_layer][0]})")
        elif (
            dst_layer == src_layer
            and LAYERS[src_layer][0] in INDEPENDENT
            and src_pkg != dst_pkg
            and (src_pkg, dst_pkg) not in ALLOWED_SIDEWAYS
        ):
            found.append(f"{where} (independent {LAYERS[src_layer][0]})")
    return found


def all_imports(folder: Path) -> list[Import]:
    return [imp for path in sources(folder) for imp in imports_of(path)]


def test_no_import_runs_up_the_layers() -> None:
    assert layer_violations(all_imports(CORE)) == []


def test_the_layer_check_catches_an_upward_import() -> None:
    # A domain reaching for the admin use cases, and one domain for another.
    upward = Import("lgsp.deliveries.service", "lgsp.admin.clients", 1, type_only=False)
    sideways = Import("lgsp.auth.tokens", "lgsp.directory.models", 1, type_only=False)
    entry = Import("lgsp.exchange.endpoints", "lgsp.exchange.service", 1, type_only=False)
    assert len(layer_violations([upward, sideways, entry])) == 2


def test_the_core_never_imports_simulators_or_test_doubles() -> None:
    found = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in all_imports(CORE)
        if imp.imported.split(".")[0] in NEVER_IN_CORE
    ]
    assert found == []


def test_the_core_sees_only_the_adapter_contract_and_registry() -> None:
    found = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in all_imports(CORE)
        if imp.imported.split(".")[0] == "lgsp_adapters"
        and not any(imp.imported == c or imp.imported.startswith(c + ".") for c in ADAPTER_CONTRACT)
    ]
    assert found == []


def test_adapters_import_only_the_kit_of_the_core() -> None:
    found = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in all_imports(ADAPTERS)
        if imp.imported.startswith("lgsp.") and not imp.imported.startswith(ADAPTERS_MAY_IMPORT)
    ]
    assert found == []


# --- only lgsp.deliveries writes delivery rows ------------------------------------------------

OWNER = CORE / "deliveries"
_WRITE_SQL = re.compile(
    r"\b(update\s+deliveries|insert\s+into\s+deliveries|delete\s+from\s+deliveries)\b", re.I
)


def _delivery_columns() -> set[str]:
    from lgsp.deliveries.models import Delivery

    return {c.key for c in Delivery.__table__.columns}


def _is_model(node: ast.AST | None) -> bool:
    """``Delivery`` or ``models.Delivery``."""
    if isinstance(node, ast.Name):
        return node.id == "Delivery"
    return isinstance(node, ast.Attribute) and node.attr == "Delivery"


def _names_delivery(node: ast.AST | None) -> bool:
    """The model, or its table (``Delivery.__table__``)."""
    if isinstance(node, ast.Attribute) and node.attr == "__table__":
        return _is_model(node.value)
    return _is_model(node)


def delivery_writes(source: str, filename: str = "<source>") -> list[str]:
    """Every place in ``source`` that writes delivery rows: Core insert/update/delete on the
    model or its table, constructing a row, handing the model to the group committer as a row,
    setting a delivery column on an object of a module that imports the model, or raw SQL."""
    tree = ast.parse(source, filename)
    uses_model = any(
        isinstance(n, ast.ImportFrom) and any(a.name == "Delivery" for a in n.names)
        for n in ast.walk(tree)
    )
    columns = _delivery_columns()
    # tuple[Delivery, Message] in a type is not a row.
    in_types = {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if (
                name in ("insert", "update", "delete")
                and node.args
                and _names_delivery(node.args[0])
            ):
                found.append(f"{filename}:{line}: {name}() on deliveries")
            elif _is_model(func):
                found.append(f"{filename}:{line}: a new Delivery row")
        elif (
            isinstance(node, ast.Tuple)
            and id(node) not in in_types
            and node.elts
            and _names_delivery(node.elts[0])
        ):
            found.append(f"{filename}:{line}: Delivery rows handed to a writer")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and uses_model:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr in columns:
                    found.append(f"{filename}:{line}: sets .{t.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _WRITE_SQL.search(node.value)
        ):
            found.append(f"{filename}:{line}: SQL writing deliveries")
    return found


def test_only_the_deliveries_domain_writes_delivery_rows() -> None:
    found = [
        hit
        for path in sources(CORE)
        if OWNER not in path.parents
        for hit in delivery_writes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == []


def test_the_owner_itself_is_seen_writing() -> None:
    # The scan recognises the owner's own writes: it would see them anywhere else.
    hits = [
        hit
        for path in sources(OWNER)
        for hit in delivery_writes(path.read_text(encoding="utf-8"), path.name)
    ]
    assert any("update() on deliveries" in h for h in hits)
    assert any("Delivery rows handed to a writer" in h for h in hits)
    assert any("sets .state" in h for h in hits)


_IMPORT = "from lgsp.deliveries.models import Delivery\n"


@pytest.mark.parametrize(
    "snippet",
    [
        _IMPORT + "session.execute(update(Delivery).values(state='dead'))",
        _IMPORT + "row.state = 'acked'",
        _IMPORT + "rows.append((Delivery, {'state': 'pending'}))",
        _IMPORT + "session.add(Delivery(message_id='m'))",
        "from lgsp.deliveries import models\nsession.execute(insert(models.Delivery.__table__))",
        "session.execute(text(\"UPDATE deliveries SET state = 'dead'\"))",
    ],
)
def test_each_kind_of_delivery_write_is_caught(snippet: str) -> None:
    assert delivery_writes(snippet)


def test_reads_are_not_writes() -> None:
    reads = _IMPORT + (
        "def f(s) -> tuple[Delivery, Message]:\n"
        "    return s.execute(select(Delivery, Message).where(Delivery.state == 'dead'))\n"
    )
    assert delivery_writes(reads) == []
