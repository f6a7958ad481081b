import pytest

from tuner import config, environment
from tuner.errors import ConfigError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("20", 20),
        ("0.001", 0.001),
        ("1e-4", 1e-4),  # plain PyYAML reads a string here; RecBole's loader, and ours, a float
        ("-8", -8),
        ("[5,inf)", "[5,inf)"),  # not valid YAML: kept as the string RecBole reads
        ('{rating: "[3,inf)"}', {"rating": "[3,inf)"}),
        ("[class]", ["class"]),
        ("true", True),
        ("CE", "CE"),
    ],
)
def test_parse_value_reads_yaml_and_keeps_the_rest_as_text(text, expected):
    value = config.parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_parse_set_items_later_wins_and_rejects_missing_equals():
    assert config.parse_set_items(["a=1", "b=x", "a=2"]) == {"a": 2, "b": "x"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config.parse_set_items(["learning_rate"])


def test_merge_applies_layers_in_order_and_maps_aliases():
    defaults = {"nh": 8, "nv": 4, "learning_rate": 0.001}
    out = config.merge(defaults, [("file.yaml", {"n_h": 16, "learning_rate": 0.01}), ("--set", {"learning_rate": 0.1})])
    assert out == {"nh": 16, "nv": 4, "learning_rate": 0.1}


def test_unknown_key_names_the_layer_and_suggests_the_closest():
    with pytest.raises(ConfigError) as e:
        config.merge({"dropout_prob": 0.4}, [("cfg.yaml", {"dropout_rate": 0.1})])
    assert "cfg.yaml" in str(e.value) and "'dropout_rate'" in str(e.value) and "'dropout_prob'" in str(e.value)


def test_load_config_file_reports_bad_yaml_with_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\nepochs: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML"):
        config.load_config_file(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        config.load_config_file(listy)
    assert config.load_config_file(_write(tmp_path / "empty.yaml", "")) == {}


def test_storage_url_precedence(monkeypatch):
    monkeypatch.delenv(environment.STORAGE, raising=False)
    assert environment.storage_url() == "sqlite:///tuner.db"
    monkeypatch.setenv(environment.STORAGE, "postgresql+psycopg://u@h/db")
    assert environment.storage_url() == "postgresql+psycopg://u@h/db"
    assert environment.storage_url("sqlite:///x.db") == "sqlite:///x.db"


def _write(path, text):
    path.write_text(text)
    return path
