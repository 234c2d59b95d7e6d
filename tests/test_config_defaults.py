"""One source of defaults: the config schema's defaults, the values config.yaml writes out and the
energy monitor's own defaults say the same thing, so a study runs the same whether or not a key is
written (issue 10, item 7)."""

import dataclasses

import yaml

from greenhp.energy.config import EnergyConfig
from testutil import ROOT

SCHEMA = yaml.safe_load((ROOT / "src/greenhp/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
SETTINGS = ("device", "repetitions", "mutants_table", "train", "data", "energy", "carbon", "analysis")


def schema_defaults(schema: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> default, for every property with a default (sections recursively)."""
    out = {}
    for key, prop in (schema.get("properties") or {}).items():
        if prop.get("type") == "object" and "properties" in prop:  # a section: its keys' defaults
            out.update(schema_defaults(prop, f"{prefix}{key}."))
        elif "default" in prop:  # a value (a free-form mapping such as metric_directions too)
            out[prefix + key] = prop["default"]
    return out


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and key in SETTINGS:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_config_yaml_writes_the_schema_defaults():
    defaults = schema_defaults(SCHEMA)
    written = flatten(CONFIG)
    drift = {k: (written[k], defaults[k]) for k in written if k.split(".")[0] in SETTINGS and k in defaults
             and written[k] != defaults[k]}
    assert drift == {}, f"config.yaml value != schema default: {drift}"
    undocumented = [k for k in written if k.split(".")[0] in SETTINGS and k not in defaults]
    assert undocumented == [], f"config.yaml keys without a schema default: {undocumented}"


def test_every_train_carbon_analysis_default_is_written_in_config_yaml():
    defaults = schema_defaults(SCHEMA)
    written = flatten(CONFIG)
    missing = [k for k in defaults if k.split(".")[0] in ("train", "carbon", "analysis") and k not in written]
    assert missing == []


def test_torch_threads_default_is_one_thread():
    assert SCHEMA["properties"]["train"]["properties"]["torch_threads"]["default"] == 1
    assert CONFIG["train"]["torch_threads"] == 1


def test_energy_schema_is_the_energy_monitor_config():
    props = SCHEMA["properties"]["energy"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(EnergyConfig)}
    assert list(props) == list(fields) == EnergyConfig.allowed_keys()
    assert {k: p["default"] for k, p in props.items()} == fields
    assert props["gpu_meter"]["enum"] and SCHEMA["properties"]["energy"]["additionalProperties"] is False


def test_a_config_without_sections_gets_config_yaml_settings():
    """Validating a config that writes only the required keys fills in exactly config.yaml's settings."""
    from greenhp.study import validate_config

    bare = {k: CONFIG[k] for k in ("seed", "repetitions", "mutants_per_hyperparameter", "subjects")}
    validate_config(bare)
    for section in ("train", "carbon", "analysis"):
        assert bare[section] == CONFIG[section], section
    assert {k: bare["energy"][k] for k in CONFIG["energy"]} == CONFIG["energy"]
