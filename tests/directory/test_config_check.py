"""check_config: the sample is clean; every fault in a broken copy is reported where it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lgsp_adapters.registry import validate_settings

from lgsp.directory.config import ConfigError, ConfigProblem, check_config, load_config
from lgsp.kit import envref
from lgsp.settings import get_settings
from lgsp.validation.catalogue import SchemaCatalogue
from tests.directory.conftest import SAMPLE, Editor


def schema_ids() -> set[str]:
    catalogue = SchemaCatalogue(get_settings().schemas_dir)
    return set(catalogue.ids()) | set(catalogue.contract_ids())


def test_sample_is_clean_with_real_schemas_and_adapters() -> None:
    problems = check_config(SAMPLE, schema_ids=schema_ids(), adapter_validator=validate_settings)
    assert problems == []
    cfg = load_config(SAMPLE)
    assert cfg.province.code == "H56"
    codes = {a.code for a in cfg.agencies}
    assert {"000.00.01.H56", "000.00.12.H56", "000.00.00.G22", "000.00.41.H56"} <= codes
    assert cfg.routes["dossier-to-portal"].is_copy
    assert all(mt.schema_id == f"{name}/1" for name, mt in cfg.message_types.items())


def find(problems: list[ConfigProblem], file: str, key: str, reason: str) -> ConfigProblem:
    for p in problems:
        if p.file == file and p.key == key and reason in p.reason:
            return p
    listing = "\n".join(str(p) for p in problems)
    raise AssertionError(f"no problem {file}: {key}: ...{reason}... in:\n{listing}")


def fussy_soap_validator(adapter: str, settings: dict[str, Any]) -> None:
    if adapter == "soap" and "wsdl" not in settings:
        raise ValueError(f"soap needs a wsdl, got keys {sorted(settings)}")


def test_broken_copy_reports_every_fault(config_copy: Path, edit: Editor) -> None:
    def agencies(data: Any) -> None:
        rows = data["agencies"]
        rows[1]["emial"] = "motcua@halam.gov.vn"  # unknown key
        rows[5]["endpoint"].pop("adapter")  # Justice: push without adapter
        rows[6]["endpoint"]["settings"] = {"wsdll": "http://127.0.0.1:8183/?wsdl"}
        rows.append({"code": "12.H56", "name_vi": "X", "name_en": "X", "kind": "department"})
        rows.append({**rows[2], "endpoint": None})  # duplicate code
        rows.append({"code": "000.00.50.H56", "name_vi": "Y", "name_en": "Y", "kind": "ministry"})

    def types(data: Any) -> None:
        data["message_types"]["dossier"]["schema_id"] = "dossier/9"

    def routes(data: Any) -> None:
        r = data["routes"]
        r["dossier-to-tnmt"]["recipient"] = "000.00.99.H56"
        r["land-intake-north"]["condition"] = {"pointer": "/XaId", "within": ["25501"]}
        r["sms-to-gateway"]["message_type"] = "sms"
        r["Bad_Name"] = {"message_type": "dossier", "recipient": "000.00.12.H56"}

    def grants(data: Any) -> None:
        g = data["grants"]
        g[0]["send"] = ["dossier", "dosier"]
        g[1]["agency"] = "@nobody"
        g[-1]["call"] = ["000.00.00.G22/TraCuuHoSoo"]
        g.append({"agency": "000.00.12.H56", "send": ["dossier-status"]})  # no "to"

    def services(data: Any) -> None:
        data["services"][1]["provider"] = "000.00.00.G99"

    def clients(data: Any) -> None:
        data["clients"][0]["scopes"] = ["messages:send", "messages:write"]
        data["clients"][-1].pop("secret")

    edit("agencies.yaml", agencies)
    edit("message-types.yaml", types)
    edit("routes.yaml", routes)
    edit("grants.yaml", grants)
    edit("services.yaml", services)
    edit("clients.yaml", clients)
    (config_copy / "route.yaml").write_text("routes: {}\n")

    problems = check_config(
        config_copy, schema_ids=schema_ids(), adapter_validator=fussy_soap_validator
    )
    a, r, g = "agencies.yaml", "routes.yaml", "grants.yaml"
    expected = [
        (a, "agencies[1].emial", "unknown key"),
        (a, "agencies[5].endpoint.adapter", "needs an adapter"),
        (a, "agencies[6].endpoint.settings", "soap needs a wsdl"),
        (a, "agencies[16].code", "not an electronic identifier code"),
        (a, "agencies[17].code", "duplicate code (first at agencies[2])"),
        (a, "agencies[18].kind", "Input should be"),
        ("message-types.yaml", "message_types.dossier.schema_id", "unknown schema 'dossier/9'"),
        (r, "routes.dossier-to-tnmt.recipient", "unknown agency 000.00.99.H56"),
        (r, "routes.land-intake-north.condition.within", "unknown condition key"),
        (r, "routes.sms-to-gateway.message_type", "unknown message type 'sms'"),
        (r, "routes.Bad_Name", "lower-case"),
        (g, "grants[0].send[1]", "unknown message type 'dosier'"),
        (g, "grants[1].agency[0]", "unknown group @nobody"),
        (g, f"grants[{12 - 1}].call[0]", "unknown service"),
        (g, "grants[12].to", "required with 'send'"),
        ("services.yaml", "services[1].provider", "unknown agency 000.00.00.G99"),
        ("clients.yaml", "clients[0].scopes[1]", "unknown scope 'messages:write'"),
        ("clients.yaml", "clients[9]", "exactly one of 'secret'"),
        ("route.yaml", "", "unknown configuration file"),
    ]
    for file, key, reason in expected:
        find(problems, file, key, reason)
    # The grant whose group is unknown took its dossier-status grants with it, and nothing
    # else is reported twice.
    assert len(problems) == len({(p.file, p.key, p.reason) for p in problems})
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy)
    assert len(caught.value.problems) >= len(expected) - 2  # no schema ids, no adapter check


def test_problems_carry_lines(config_copy: Path) -> None:
    text = (config_copy / "routes.yaml").read_text()
    text = text.replace('recipient: "000.00.16.H56"', 'recipient: "000.00.16.H57"', 1)
    (config_copy / "routes.yaml").write_text(text)
    problem = find(
        check_config(config_copy),
        "routes.yaml",
        "routes.dossier-to-tuphap.recipient",
        "unknown agency",
    )
    line = text.splitlines()[problem.line - 1] if problem.line else ""
    assert "000.00.16.H57" in line
    assert str(problem).startswith(
        "routes.yaml: routes.dossier-to-tuphap.recipient: unknown agency"
    )


def test_yaml_syntax_error_with_line_and_other_files_still_checked(config_copy: Path) -> None:
    (config_copy / "services.yaml").write_text("services:\n  - provider: [unclosed\n    name: X\n")
    text = (config_copy / "clients.yaml").read_text().replace("h56-motcua", "h56 motcua", 1)
    (config_copy / "clients.yaml").write_text(text)
    problems = check_config(config_copy)
    syntax = find(problems, "services.yaml", "", "YAML syntax error")
    assert syntax.line is not None and syntax.line >= 2
    find(problems, "clients.yaml", "clients[0].client_id", "String should match pattern")
    # Nothing else: references to the unreadable file's services are not reported again.
    assert len(problems) == 2, problems


def test_unreadable_agencies_file_is_reported_once(config_copy: Path) -> None:
    (config_copy / "agencies.yaml").write_text("agencies:\n  - code: [\n")
    (config_copy / "grants.yaml").write_text("grants: {unclosed\n")
    problems = check_config(config_copy)
    assert sorted(p.file for p in problems) == ["agencies.yaml", "grants.yaml"], problems


def test_duplicate_keys_and_sections(config_copy: Path) -> None:
    with (config_copy / "routes.yaml").open("a") as f:
        f.write('  sms-to-gateway:\n    message_type: sms-notification\n    recipient: "H56.91"\n')
    (config_copy / "province.yaml").write_text("province:\n  code: h56\nregion: north\n")
    problems = check_config(config_copy)
    find(problems, "routes.yaml", "routes.sms-to-gateway", "duplicate key")
    find(problems, "province.yaml", "region", "unknown key")
    find(problems, "province.yaml", "province.code", "String should match")
    find(problems, "province.yaml", "province.name_vi", "required key is missing")


def test_missing_province_and_not_a_directory(tmp_path: Path) -> None:
    find(check_config(tmp_path), "province.yaml", "", "file missing")
    find(check_config(tmp_path / "nope"), str(tmp_path / "nope"), "", "not a directory")


def test_route_nobody_may_use_is_reported(edit: Editor, config_copy: Path) -> None:
    edit("grants.yaml", lambda d: d["grants"].pop(4))  # the one-stop office's payment grant
    problems = check_config(config_copy)
    find(
        problems,
        "routes.yaml",
        "routes.payment-request-to-paygov.recipient",
        "no grant lets any agency send payment-request to 000.01.00.G22",
    )


def test_structural_endpoint_faults(edit: Editor, config_copy: Path) -> None:
    def change(data: Any) -> None:
        rows = data["agencies"]
        rows[2]["endpoint"] = {"mode": "pull", "adapter": "rest", "settings": {"url": "x"}}
        rows[3].pop("endpoint")  # TNMT: routes and grants send to it
        rows[0]["parent"] = "000.00.01.H56"  # cycle: PC -> office -> PC
        rows.append({"code": "000.00.20.H57", "name_vi": "Z", "name_en": "Z", "kind": "department"})

    edit("agencies.yaml", change)
    problems = check_config(config_copy)
    find(problems, "agencies.yaml", "agencies[2].endpoint.adapter", "pull endpoint has no adapter")
    find(problems, "agencies.yaml", "agencies[2].endpoint.settings", "no adapter settings")
    find(problems, "agencies.yaml", "agencies[0].parent", "cycle")
    find(problems, "routes.yaml", "routes.dossier-to-tnmt.recipient", "has no endpoint")
    find(problems, "agencies.yaml", "agencies[16].code", "carries its code H56")


def test_environment_expansion(config_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_MOTCUA_URL", "http://127.0.0.1:9999/lgsp")
    monkeypatch.setenv("LGSP_CLIENT_SECRET_MOTCUA", "s" * 32)
    monkeypatch.delenv("LGSP_CLIENT_SECRET_TNMT", raising=False)
    cfg = load_config(config_copy)
    office = next(a for a in cfg.agencies if a.code == "000.00.01.H56")
    assert office.endpoint is not None
    # Endpoint settings keep their references (resolved when the adapter is built).
    assert office.endpoint.settings == {"url": "${LGSP_MOTCUA_URL:-http://127.0.0.1:8182}"}
    assert envref.resolve(office.endpoint.settings).value == {"url": "http://127.0.0.1:9999/lgsp"}
    portal = next(a for a in cfg.agencies if a.code == "000.00.00.G22")
    assert portal.endpoint is not None
    base_url = envref.resolve(portal.endpoint.settings).value["base_url"]
    assert base_url == "http://127.0.0.1:8181"  # the default
    motcua = next(c for c in cfg.clients if c.client_id == "h56-motcua")
    assert motcua.secret == "s" * 32
    assert "h56-motcua" not in cfg.missing_secrets
    assert cfg.missing_secrets["h56-tnmt"] == "LGSP_CLIENT_SECRET_TNMT"

    # Outside a client secret, an unset variable without a default is a problem.
    monkeypatch.delenv("LGSP_NOT_SET_ANYWHERE", raising=False)
    text = (config_copy / "agencies.yaml").read_text()
    text = text.replace('"${LGSP_TUPHAP_URL:-http://127.0.0.1:8184}"', '"${LGSP_NOT_SET_ANYWHERE}"')
    text = text.replace("Ha Lam City People's Committee", "Ha Lam $${not a variable}")
    (config_copy / "agencies.yaml").write_text(text)
    find(
        check_config(config_copy),
        "agencies.yaml",
        "agencies[5].endpoint.settings.url",
        "LGSP_NOT_SET_ANYWHERE is not set",
    )
    (config_copy / "agencies.yaml").write_text(
        text.replace('"${LGSP_NOT_SET_ANYWHERE}"', '"http://127.0.0.1:8184"')
    )
    city = load_config(config_copy).agencies[0]
    assert city.name_en == "Ha Lam ${not a variable}"
