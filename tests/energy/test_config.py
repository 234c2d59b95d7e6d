import pytest

from greenhp.energy import EnergyConfig


def test_defaults():
    c = EnergyConfig.from_dict({})
    assert c.gpu_meter == "auto" and c.cpu_meter == "auto"
    assert c.cpu_watts_per_core == 10.0 and c.sample_hz == 10.0
    assert c.powercap_root == "/sys/class/powercap" and c.timeline is False
    assert EnergyConfig.from_dict(None) == c


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ValueError) as ei:
        EnergyConfig.from_dict({"sample_rate": 5})
    msg = str(ei.value)
    assert "'sample_rate'" in msg and "sample_hz" in msg and "cpu_meter" in msg


@pytest.mark.parametrize("d, word", [
    ({"gpu_meter": "rapl"}, "gpu_meter"),
    ({"cpu_meter": "tdp"}, "cpu_meter"),
    ({"sample_hz": 0}, "sample_hz"),
    ({"idle_seconds": -1}, "idle_seconds"),
    ({"cpu_watts_per_core": "ten"}, "cpu_watts_per_core"),
    ({"timeline": "yes"}, "timeline"),
    ({"settle_timeout_s": float("nan")}, "settle_timeout_s"),
])
def test_bad_values_name_the_key(d, word):
    with pytest.raises(ValueError, match=word):
        EnergyConfig.from_dict(d)


def test_ints_become_floats():
    c = EnergyConfig.from_dict({"sample_hz": 20, "idle_seconds": 3})
    assert c.sample_hz == 20.0 and isinstance(c.idle_seconds, float)
