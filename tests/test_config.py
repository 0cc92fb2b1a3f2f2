"""Config values are checked by name and type when a config is built, replaced or loaded."""

import json

import pytest
import transformers

from w2v_lite.config import PRESETS, Wav2Vec2Config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_attention_heads", -4, "num_attention_heads must be a positive int, got -4"),
        ("hidden_size", "96", "hidden_size must be a positive int, got '96'"),
        ("num_hidden_layers", 3.0, "num_hidden_layers must be a positive int, got 3.0"),
        ("vocab_size", None, "vocab_size must be a positive int, got None"),
        ("num_hidden_layers", True, "num_hidden_layers must be a positive int, got True"),
        ("mask_time_min_masks", -1, "mask_time_min_masks must be a non-negative int, got -1"),
        ("mask_time_prob", 1.5, r"mask_time_prob must be a number in \[0, 1\], got 1.5"),
        ("hidden_dropout", float("nan"), r"hidden_dropout must be a number in \[0, 1\], got nan"),
        ("layer_norm_eps", 0, "layer_norm_eps must be a positive number, got 0"),
        ("diversity_loss_weight", "0.1", "diversity_loss_weight must be a non-negative number, got '0.1'"),
        ("conv_bias", 1, "conv_bias must be true or false, got 1"),
        ("feat_extract_norm", None, "feat_extract_norm must be a string, got None"),
        ("conv_kernel", [10, 0, 3, 3, 3, 2, 2], r"conv_kernel must be a list of positive ints, got \[10, 0"),
        ("conv_dim", [512] * 6 + ["512"], r"conv_dim must be a list of positive ints, got \[512, .*'512'\]"),
        ("sampling_rate", 0, "sampling_rate must be a positive int, got 0"),
    ],
)
def test_bad_values_name_the_field_and_the_type(field, value, message, tmp_path):
    with pytest.raises((TypeError, ValueError), match=message):
        Wav2Vec2Config(**{field: value})
    with pytest.raises((TypeError, ValueError), match=message):
        Wav2Vec2Config.tiny().replace(**{field: value})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**Wav2Vec2Config.tiny().to_hf_dict(), field: value}))
    with pytest.raises(ValueError, match=f"{path}: {message}"):
        Wav2Vec2Config.load(path)


@pytest.mark.parametrize(("text", "message"), [("[1, 2]", "holds a JSON list"), ("{oops", "is not valid JSON"),
                                           ("\"base\"", "holds a JSON str")])
def test_config_json_that_is_not_an_object(tmp_path, text, message):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        Wav2Vec2Config.load(tmp_path / "config.json")


def test_unknown_field_in_replace():
    with pytest.raises(TypeError, match=r"unknown config field\(s\) \['hiden_size'\]"):
        Wav2Vec2Config.tiny().replace(hiden_size=8)


def test_valid_configs_still_load():
    """Every preset, transformers' defaults and its large-lv60 style config pass the checks unchanged."""
    for name in PRESETS:
        cfg = Wav2Vec2Config.preset(name)
        assert Wav2Vec2Config.from_hf(cfg.to_hf_dict()) == cfg
    hf = transformers.Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
    ours = Wav2Vec2Config.from_hf(hf)
    assert ours.conv_dim == tuple(hf.conv_dim) and ours.do_stable_layer_norm and ours.mask_time_min_masks == 2


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (Wav2Vec2Config.base(), False),  # layer-0 GroupNorm over the whole time axis, padding included
        (Wav2Vec2Config.base(mask_aware_group_norm=True), True),
        (Wav2Vec2Config.large_lv60(), True),  # LayerNorm on each frame
    ],
)
def test_ignores_padding_says_which_models_padding_cannot_change(config, expected):
    assert config.ignores_padding is expected
