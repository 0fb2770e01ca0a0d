from dataclasses import dataclass, field

import pytest

from src.config import ConfigError, bounded, config_to_dict, load_config, save_config
from src.training.classifier import ClassifierRunConfig


@dataclass
class Inner:
    rate: float = bounded(0.1, 0.0, 1.0)
    mode: str = bounded("a", choices=("a", "b"))


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    epochs: int = bounded(3, 1, 100)
    flag: bool = True
    name: str | None = None


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_and_values(tmp_path):
    cfg = load_config(Outer, write(tmp_path, "inner:\n  rate: 1\nepochs: 7\nname: x\n"))
    assert cfg == Outer(Inner(1.0, "a"), 7, True, "x")
    assert isinstance(cfg.inner.rate, float)
    assert load_config(Outer) == Outer()


@pytest.mark.parametrize(
    "text, message",
    [
        ("epoch: 3\n", "unknown key 'epoch'; expected one of: inner, epochs, flag, name"),
        ("inner:\n  rte: 0.2\n", "unknown key 'inner.rte'; expected one of: inner.rate"),
        ("epochs: three\n", "epochs: expected int, got 'three'"),
        ("epochs: 2.5\n", "epochs: expected int, got 2.5"),
        ("flag: 1\n", "flag: expected bool, got 1"),
        ("epochs: 0\n", r"epochs: expected a value in \[1, 100\], got 0"),
        ("inner:\n  mode: c\n", r"inner.mode: expected one of \['a', 'b'\], got 'c'"),
        ("inner: 5\n", "inner: expected a mapping"),
        ("epochs: [1\n", "not valid YAML"),
    ],
)
def test_file_errors_name_file_key_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(Outer, path)
    assert str(err.value).startswith(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")


def test_overrides_apply_and_are_checked(tmp_path):
    path = write(tmp_path, "epochs: 3\n")
    cfg = load_config(Outer, path, ["epochs=5", "inner.rate=0.5", "name=null"])
    assert (cfg.epochs, cfg.inner.rate, cfg.name) == (5, 0.5, None)
    with pytest.raises(ConfigError, match=r"^--set epochs=abc: epochs: expected int, got 'abc'"):
        load_config(Outer, path, ["epochs=abc"])
    with pytest.raises(ConfigError, match=r"^--set inner.speed=1: unknown key 'inner.speed'"):
        load_config(Outer, path, ["inner.speed=1"])
    with pytest.raises(ConfigError, match="expected the form key.subkey=value"):
        load_config(Outer, path, ["epochs"])
    with pytest.raises(ConfigError, match=r"got 500"):
        load_config(Outer, path, ["epochs=500"])


def test_saved_config_loads_back(tmp_path):
    cfg = load_config(Outer, None, ["epochs=9", "inner.mode=b"])
    save_config(cfg, tmp_path / "run" / "saved.yaml")
    assert load_config(Outer, tmp_path / "run" / "saved.yaml") == cfg
    assert config_to_dict(cfg)["inner"] == {"rate": 0.1, "mode": "b"}


def test_shipped_configs_are_valid():
    from pathlib import Path

    from src.training.line_reader import LineReaderRunConfig
    from src.training.style_vae import StyleVAERunConfig
    from src.training.vae import VAERunConfig

    root = Path(__file__).resolve().parent.parent
    for name, schema in [
        ("config_classifier.yaml", ClassifierRunConfig),
        ("config_vae.yaml", VAERunConfig),
        ("config_line_reader.yaml", LineReaderRunConfig),
        ("config_style_vae.yaml", StyleVAERunConfig),
    ]:
        cfg = load_config(schema, root / name)
        assert cfg.training.epochs >= 1
