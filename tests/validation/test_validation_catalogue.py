"""SchemaCatalogue behaviour on schema directories the tests write themselves."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lgsp.kit.errors import ValidationFailed
from lgsp.settings import PROJECT_ROOT
from lgsp.validation.catalogue import ID_BASE, SchemaCatalogue, SchemaLoadError

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def write(directory: Path, schema_id: str, body: dict[str, Any]) -> None:
    path = directory / f"{schema_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = {"$schema": DRAFT, "$id": ID_BASE + schema_id, "title": schema_id} | body
    path.write_text(json.dumps(schema))


@pytest.fixture
def small(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "common/1",
        {"x-lgsp-kind": "definitions", "$defs": {"code": {"type": "string", "format": "ma-ho-so"}}},
    )
    write(tmp_path, "note/1", {"type": "object", "required": ["a"]})
    write(
        tmp_path,
        "note/2",
        {
            "type": "object",
            "required": ["code", "items"],
            "properties": {
                "code": {"$ref": "../common/1#/$defs/code"},
                "items": {"type": "array", "items": {"type": "integer"}},
            },
            "additionalProperties": False,
        },
    )
    write(tmp_path, "note/10", {"type": "object"})
    # Files next to the schemas that are not schemas.
    (tmp_path / "note" / "examples").mkdir()
    (tmp_path / "note" / "examples" / "1.json").write_text("{}")
    (tmp_path / "note" / "README.md").write_text("notes")
    return tmp_path


def test_catalogue(small: Path) -> None:
    registry = SchemaCatalogue(small)
    assert registry.ids() == ["note/1", "note/2", "note/10"]
    assert registry.names() == ["note"]
    assert registry.latest("note") == "note/10"
    assert registry.resolve("note") == "note/10"
    assert registry.get("note/2")["$id"] == ID_BASE + "note/2"
    assert registry.get("common/1")["x-lgsp-kind"] == "definitions"
    for unknown in ("note/3", "nothing", "common"):
        with pytest.raises(KeyError):
            registry.get(unknown)
    with pytest.raises(KeyError):
        registry.latest("common")
    with pytest.raises(KeyError):
        registry.errors("common/1", {})


def test_get_returns_a_copy(small: Path) -> None:
    registry = SchemaCatalogue(small)
    registry.get("note/1")["required"].append("b")
    assert registry.get("note/1")["required"] == ["a"]


def test_shared_definitions_resolve_locally_with_formats(small: Path) -> None:
    registry = SchemaCatalogue(small)
    assert registry.errors("note/2", {"code": "000.00.12.H02-261126-0007", "items": []}) == []
    assert registry.errors("note/2", {"code": "000.00.12.H02-261132-0007", "items": []}) == [
        {
            "pointer": "/code",
            "keyword": "format",
            "message": "must be a dossier code {agency code}-{yyMMdd}-{NNNN} with a real date",
        }
    ]


def test_every_error_sorted_with_pointers(small: Path) -> None:
    registry = SchemaCatalogue(small)
    payload = {"items": [1] * 2 + ["x"] + [1] * 7 + ["y"], "a/b": 1, "c~d": 2}
    found = registry.errors("note/2", payload)
    assert [(e["pointer"], e["keyword"]) for e in found] == [
        ("/a~1b", "additionalProperties"),
        ("/code", "required"),
        ("/c~0d", "additionalProperties"),
        ("/items/2", "type"),
        ("/items/10", "type"),
    ]
    assert all(e["message"] for e in found)


def test_check_raises_validation_failed(small: Path) -> None:
    registry = SchemaCatalogue(small)
    registry.check("note/2", {"code": "000.00.12.H02-261126-0007", "items": [1]})
    registry.check("note", {"items": ["x"], "z": 1})  # the latest version, note/10, allows it
    with pytest.raises(ValidationFailed) as caught:
        registry.check("note/2", {"items": ["x"], "z": 1})
    failure = caught.value
    assert failure.status == 422
    assert failure.detail == "3 validation errors in note/2"
    assert [e["pointer"] for e in failure.errors] == ["/code", "/items/0", "/z"]
    assert failure.to_problem()["errors"] == failure.errors
    with pytest.raises(ValidationFailed) as caught:
        registry.check("note/1", {})
    assert caught.value.detail == "1 validation error in note/1"


def test_validators_are_compiled_once(small: Path) -> None:
    registry = SchemaCatalogue(small)
    assert registry.compile_count == 3
    for _ in range(50):
        registry.errors("note/2", {"items": ["x"]})
        registry.errors("note", {})
        registry.check("note/1", {"a": 1})
    assert registry.compile_count == 3


def test_shipped_schemas_compile_once() -> None:
    registry = SchemaCatalogue(PROJECT_ROOT / "schemas")
    assert registry.compile_count == len(registry.ids()) + len(registry.contract_ids())
    sample = json.loads((PROJECT_ROOT / "schemas/dossier/examples/1.json").read_text())
    for _ in range(20):
        assert registry.errors("dossier", sample) == []
    assert registry.compile_count == len(registry.ids()) + len(registry.contract_ids())


def test_threads_share_validators() -> None:
    registry = SchemaCatalogue(PROJECT_ROOT / "schemas")
    sample = json.loads((PROJECT_ROOT / "schemas/dossier/examples/1.json").read_text())
    broken = sample | {"SoDienThoai": "1", "MaHoSo": "x"}
    results: list[tuple[int, int]] = []

    def work() -> None:
        for _ in range(50):
            results.append(
                (
                    len(registry.errors("dossier/1", sample)),
                    len(registry.errors("dossier/1", broken)),
                )
            )

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(0, 2)] * 400


@pytest.mark.parametrize(
    ("schema_id", "body", "reason"),
    [
        ("bad/1", {"type": "objekt"}, "not valid JSON Schema"),
        ("bad/1", {"$id": ID_BASE + "other/1"}, "$id"),
        ("bad/1", {"$schema": "http://json-schema.org/draft-07/schema#"}, "$schema"),
        ("bad/1", {"properties": {"a": {"format": "no-such-format"}}}, "cannot compile"),
        ("bad/1", {"$ref": "https://example.invalid/remote.json"}, "cannot resolve"),
        ("bad/1", {"$ref": "../common/9#/$defs/x"}, "cannot resolve"),
    ],
)
def test_broken_schemas_refuse_to_load(
    tmp_path: Path, schema_id: str, body: dict[str, Any], reason: str
) -> None:
    write(tmp_path, schema_id, body)
    with pytest.raises(SchemaLoadError, match=reason.replace("$", r"\$")):
        SchemaCatalogue(tmp_path)


def test_unreadable_files_refuse_to_load(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "1.json").write_text("{not json")
    with pytest.raises(SchemaLoadError, match="cannot read"):
        SchemaCatalogue(tmp_path)
    with pytest.raises(SchemaLoadError, match="does not exist"):
        SchemaCatalogue(tmp_path / "missing")


def test_non_json_values_are_a_caller_error(small: Path) -> None:
    registry = SchemaCatalogue(small)
    with pytest.raises(TypeError):
        registry.errors("note/2", {"items": {1, 2}})
