from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import AdapterConfigError
from lgsp_adapters.memory import MemoryAdapter, MemorySettings
from lgsp_adapters.rest import RestAdapter, RestSettings
from lgsp_adapters.soap import SoapAdapter

PLUGIN = """
from lgsp_adapters.base import Adapter, AdapterSettings, DeliveryResult

class FaxSettings(AdapterSettings):
    number: str

class FaxAdapter(Adapter):
    name = "fax"
    Settings = FaxSettings

    def deliver(self, envelope):
        return DeliveryResult(status_code=200, reply=self.settings.number)

class Exploding(Adapter):
    name = "exploding"

    def __init__(self, settings, *, agency_code, timeout):
        raise ValueError("modem not found")

    def deliver(self, envelope):
        raise AssertionError

NOT_AN_ADAPTER = object()
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution installed the ordinary way: a module and a .dist-info with entry points."""
    (tmp_path / "lgsp_fax_plugin.py").write_text(PLUGIN)
    (tmp_path / "lgsp_broken_plugin.py").write_text("import no_such_module_anywhere\n")
    dist = tmp_path / "lgsp_fax_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lgsp-fax-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [lgsp.adapters]
            fax = lgsp_fax_plugin:FaxAdapter
            exploding = lgsp_fax_plugin:Exploding
            notanadapter = lgsp_fax_plugin:NOT_AN_ADAPTER
            broken = lgsp_broken_plugin:Adapter
            rest = lgsp_fax_plugin:FaxAdapter
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("lgsp_fax_plugin", None)


def test_builtins_resolve_lazily() -> None:
    assert {"rest", "soap", "memory", "dvcqg"} <= set(registry.available())
    assert registry.adapter_class("rest") is RestAdapter
    assert registry.adapter_class("soap") is SoapAdapter
    assert registry.adapter_class("memory") is MemoryAdapter


def test_unknown_name_suggests() -> None:
    with pytest.raises(AdapterConfigError, match="did you mean 'rest'") as caught:
        registry.adapter_class("rset")
    assert "available:" in caught.value.reason
    with pytest.raises(AdapterConfigError, match="unknown adapter 'carrier-pigeon'"):
        registry.adapter_class("carrier-pigeon")


def test_entry_point_adapter(plugins: Path) -> None:
    assert "fax" in registry.available()
    adapter = registry.build("fax", {"number": "+84 28 3829 1234"}, agency_code="H", timeout=1)
    assert type(adapter).__name__ == "FaxAdapter"
    with pytest.raises(AdapterConfigError, match="number: Field required"):
        registry.validate_settings("fax", {})
    with pytest.raises(AdapterConfigError, match="did you mean 'fax'"):
        registry.adapter_class("fux")


def test_broken_entry_points_refuse_to_start(plugins: Path) -> None:
    with pytest.raises(AdapterConfigError, match="no_such_module_anywhere") as caught:
        registry.adapter_class("broken")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
    with pytest.raises(AdapterConfigError, match="not an Adapter subclass"):
        registry.adapter_class("notanadapter")
    with pytest.raises(AdapterConfigError, match="could not start: ValueError: modem not found"):
        registry.build("exploding", {}, agency_code="H", timeout=1)


def test_plugin_may_not_shadow_a_builtin(plugins: Path) -> None:
    with pytest.raises(AdapterConfigError, match="both built in"):
        registry.adapter_class("rest")


def test_env_references_expand_before_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_T_HOST", "127.0.0.1:9")
    monkeypatch.setenv("LGSP_T_SECRET", "s3cret")
    settings = registry.validate_settings(
        "rest",
        {
            "url": "http://${LGSP_T_HOST}/api",
            "auth": {"type": "basic", "username": "lgsp", "password": "${LGSP_T_SECRET}"},
            "headers": {"X-Key": "k-${LGSP_T_SECRET}"},
        },
    )
    assert isinstance(settings, RestSettings)
    assert str(settings.url) == "http://127.0.0.1:9/api"
    assert settings.auth.password.get_secret_value() == "s3cret"  # type: ignore[union-attr]
    assert "s3cret" not in repr(settings.auth)
    assert settings.headers == {"X-Key": "k-s3cret"}


def test_missing_env_reference_names_variable_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LGSP_T_MISSING", raising=False)
    with pytest.raises(AdapterConfigError) as caught:
        registry.validate_settings(
            "rest", {"url": "http://x", "auth": {"type": "bearer", "token": "${LGSP_T_MISSING}"}}
        )
    assert caught.value.reason == "environment variable LGSP_T_MISSING is not set (in auth.token)"
    assert registry.expand_env(["$HOME", {"a": "${"}]) == ["$HOME", {"a": "${"}]


def test_validation_errors_are_readable_and_complete() -> None:
    with pytest.raises(AdapterConfigError) as caught:
        registry.validate_settings("memory", {"fail_first": "many", "typo": 1})
    reason = caught.value.reason
    assert reason.startswith("invalid settings for adapter 'memory': ")
    assert "fail_first: Input should be a valid integer" in reason
    assert "typo: Extra inputs are not permitted" in reason
    assert isinstance(registry.validate_settings("memory", {"reject": True}), MemorySettings)
