"""Loading transformers checkpoints (safetensors and legacy .bin), safely and strictly."""

import json
from pathlib import Path

import pytest
import torch
import transformers
from hf_utils import hf_model, padded_batch, small_config
from safetensors.torch import load_file, save_file

from w2v_lite import Wav2Vec2Model
from w2v_lite.model.checkpoints import load_state_dict


@pytest.fixture(scope="module")
def hf_and_input():
    cfg = small_config("group-postln")
    return hf_model(cfg, seed=11), padded_batch([3000, 2200], seed=12)


def run(model, batch):
    x, mask = batch
    with torch.no_grad():
        return model(x, attention_mask=mask).last_hidden_state


def test_from_pretrained_on_save_pretrained_folder(tmp_path, hf_and_input):
    hf, batch = hf_and_input
    hf.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    ours = Wav2Vec2Model.from_pretrained(tmp_path)
    live = Wav2Vec2Model.from_hf(hf)
    mask = ours(batch[0], attention_mask=batch[1]).frame_mask
    torch.testing.assert_close(run(ours, batch), run(live, batch), atol=0, rtol=0)
    torch.testing.assert_close(run(ours, batch)[mask], run(hf, batch)[mask], atol=1e-5, rtol=0)


def test_legacy_bin_with_weight_g_weight_v(tmp_path, hf_and_input):
    hf, batch = hf_and_input
    state = {}
    for key, value in hf.state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        state["wav2vec2." + key] = value.clone()  # hub checkpoints carry the "wav2vec2." prefix
    assert any(k.endswith("weight_g") for k in state)
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(hf.config.to_dict()))
    ours = Wav2Vec2Model.from_pretrained(tmp_path)
    torch.testing.assert_close(run(ours, batch), run(Wav2Vec2Model.from_hf(hf), batch), atol=0, rtol=0)


def test_pickled_code_is_refused(tmp_path, hf_and_input):
    hf, _ = hf_and_input
    hf.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"refused to load .*pytorch_model.bin: it is a pickle that would run code "
                                         r"when loaded \(it calls \S*print\)"):  # one line, not torch's paragraph
        load_state_dict(tmp_path)


def test_missing_and_unexpected_keys_are_listed(tmp_path, hf_and_input):
    hf, _ = hf_and_input
    hf.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state.pop("encoder.layers.0.attention.q_proj.weight")
    state["encoder.layers.9.bogus"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"q_proj\.weight.*encoder\.layers\.9\.bogus"):
        Wav2Vec2Model.from_pretrained(tmp_path)


def test_wrong_config_for_weights(tmp_path, hf_and_input):
    hf, _ = hf_and_input
    hf.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["intermediate_size"] += 1
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="wrong shape"):
        Wav2Vec2Model.from_pretrained(tmp_path)


def test_missing_folder_and_missing_weights(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Wav2Vec2Model.from_pretrained(tmp_path / "nope")
    small_config("layer-preln").save(tmp_path / "config.json")
    with pytest.raises(ValueError, match="no weights"):
        Wav2Vec2Model.from_pretrained(tmp_path)


def test_our_checkpoint_round_trips_and_loads_in_transformers(tmp_path):
    torch.manual_seed(3)
    ours = Wav2Vec2Model(small_config("layer-postln-bias")).eval()
    ours.save_pretrained(tmp_path)
    again = Wav2Vec2Model.from_pretrained(tmp_path)
    batch = padded_batch([2500, 1800], seed=5)
    torch.testing.assert_close(run(again, batch), run(ours, batch), atol=0, rtol=0)
    hf = transformers.Wav2Vec2Model.from_pretrained(tmp_path).eval()
    mask = ours(batch[0], attention_mask=batch[1]).frame_mask
    torch.testing.assert_close(run(hf, batch)[mask], run(ours, batch)[mask], atol=1e-5, rtol=0)


def test_save_keeps_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    torch.manual_seed(4)
    model = Wav2Vec2Model(small_config("layer-preln"))
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def disk_full(state, path, metadata=None):
        Path(path).write_bytes(b"partial")  # a torn write, then the disk fills
        raise OSError("No space left on device")

    monkeypatch.setattr("w2v_lite.model.checkpoints.save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat

    torch.manual_seed(5)
    Wav2Vec2Model(small_config("layer-preln")).save_pretrained(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
