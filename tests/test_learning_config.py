"""Typed config: unknown keys rejected with a clear message; YAML round trip; consistency checks."""
import pytest
import yaml

from diffland.config import ConfigError, dump_config, load_config, parse_config

MIN = {"data": {"train_period": ["2015-04-01", "2016-03-31"]}}


def test_minimal_config_fills_defaults():
    c = parse_config(MIN)
    assert c.network.kind == "gA" and c.loss.kind == "cell_rmse" and c.optim.name == "adam"
    names = [p.name for p in c.params.learned]
    assert names == ["BEXP", "SMCMAX", "DKSAT", "PSISAT", "RSURF_EXP", "REFKDT", "SLOPE", "VCMX25", "MP", "CWPVT", "HVT"]
    assert c.params.derived_consistency is True
    dk = c.params.learned[2]
    assert dk.log and dk.lo == 5e-7 and dk.hi == 3e-5


@pytest.mark.parametrize("bad,where", [
    ({"optim": {"lrate": 0.1}}, "optim.lrate"),
    ({"seeed": 1}, "seeed"),
    ({"data": {"train_period": ["2015-04-01", "2016-03-31"], "kind": "x"}}, "data.kind"),
    ({"params": {"learned": [{"name": "BEXP", "lo": 1, "hi": 2, "scale": 3}]}}, "params.learned.0.scale"),
])
def test_unknown_keys_rejected_with_clear_message(bad, where):
    d = {**MIN, **bad}
    with pytest.raises(ConfigError) as e:
        parse_config(d)
    msg = str(e.value)
    assert f"unknown key '{where}'" in msg
    if where == "optim.lrate":
        assert "lr" in msg and "allowed here" in msg


def test_invalid_values_rejected():
    with pytest.raises(ConfigError, match="hi"):
        parse_config({**MIN, "params": {"learned": [{"name": "BEXP", "lo": 5, "hi": 2}]}})
    with pytest.raises(ConfigError, match="spinup_days"):
        parse_config({**MIN, "params": {"learn_initial_sm": True}})
    with pytest.raises(ConfigError, match="unknown physics option"):
        parse_config({**MIN, "model": {"options": {"nonsense": 1}}})
    with pytest.raises(ConfigError, match="before start"):
        parse_config({"data": {"train_period": ["2016-04-01", "2016-03-31"]}})
    with pytest.raises(ConfigError, match="missing required key 'data'"):
        parse_config({})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({**MIN, "params": {"learned": [{"name": "BEXP", "lo": 3, "hi": 9}] * 2}})


def test_yaml_round_trip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({**MIN, "loss": {"kind": "regime_balanced", "ab_factors": True},
                                 "optim": {"name": "adadelta", "lr": 1.0}, "model": {"options": {"soil_dz": [0.1, 0.3, 0.6, 1.0]}}}))
    c = load_config(p)
    assert c.loss.ab_factors and c.optim.name == "adadelta"
    assert c.model.options["soil_dz"] == (0.1, 0.3, 0.6, 1.0)
    out = tmp_path / "echo.yaml"
    dump_config(c, out)
    c2 = load_config(out)
    assert c2 == c
    echoed = yaml.safe_load(out.read_text())
    assert echoed["optim"]["batch_cells"] == 64  # defaults are echoed
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
