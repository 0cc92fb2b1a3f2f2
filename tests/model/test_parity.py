"""Parity with transformers' Wav2Vec2Model on the same random weights, on padded batches, in fp32."""

import pytest
import torch
from hf_utils import SMALL_CONFIGS, model_pair, padded_batch, small_config

from w2v_lite import Wav2Vec2Config


def compare(hf, ours, x, mask, atol):
    with torch.no_grad():
        ref = hf(x, attention_mask=mask, output_hidden_states=True)
        out = ours(x, attention_mask=mask, output_hidden_states=True)
    valid = out.frame_mask
    assert out.last_hidden_state.shape == ref.last_hidden_state.shape
    assert len(out.hidden_states) == len(ref.hidden_states) == ours.config.num_hidden_layers + 1
    torch.testing.assert_close(out.last_hidden_state[valid], ref.last_hidden_state[valid], atol=atol, rtol=0)
    torch.testing.assert_close(out.extract_features[valid], ref.extract_features[valid], atol=atol, rtol=0)
    for ours_h, ref_h in zip(out.hidden_states, ref.hidden_states):
        torch.testing.assert_close(ours_h[valid], ref_h[valid], atol=atol, rtol=0)


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
@pytest.mark.parametrize("with_mask", [True, False])
def test_small_configs_match_transformers(name, with_mask):
    cfg = small_config(name)
    hf, ours = model_pair(cfg, seed=1)
    x, mask = padded_batch([4000, 2600, 3333], seed=2)
    compare(hf, ours, x, mask if with_mask else None, atol=1e-5)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in hf.parameters())


@pytest.mark.slow
def test_full_size_base_matches_transformers():
    cfg = Wav2Vec2Config.base(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    hf, ours = model_pair(cfg, seed=3)
    x, mask = padded_batch([8000, 5200], seed=4)
    compare(hf, ours, x, mask, atol=1e-4)


def test_submodules_match_one_by_one():
    """Each stage on its own, so a mismatch points at the module that causes it."""
    cfg = small_config("group-postln")
    hf, ours = model_pair(cfg, seed=5)
    x, _ = padded_batch([3000], seed=6)
    with torch.no_grad():
        f_ref, f_ours = hf.feature_extractor(x), ours.feature_extractor(x)
        torch.testing.assert_close(f_ours, f_ref, atol=1e-5, rtol=0)
        h_ref, _ = hf.feature_projection(f_ref.transpose(1, 2))
        h_ours, _ = ours.feature_projection(f_ref.transpose(1, 2))
        torch.testing.assert_close(h_ours, h_ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.encoder.pos_conv_embed(h_ref), hf.encoder.pos_conv_embed(h_ref),
                                   atol=1e-5, rtol=0)
        for layer_ours, layer_ref in zip(ours.encoder.layers, hf.encoder.layers):
            torch.testing.assert_close(layer_ours(h_ref), layer_ref(h_ref), atol=1e-5, rtol=0)


@pytest.mark.parametrize("layerdrop", [1.0, 0.5])
def test_layerdrop_still_gives_one_hidden_state_per_layer(layerdrop):
    """transformers (4.x) appends a hidden state for every layer, skipped or not; so do we: a skipped layer's
    entry is its input unchanged, and with every layer skipped all entries are the same tensor."""
    cfg = small_config("group-postln", layerdrop=layerdrop, hidden_dropout=0.0, attention_dropout=0.0,
                       activation_dropout=0.0, mask_time_prob=0.0)
    _, ours = model_pair(cfg, seed=7)
    x, mask = padded_batch([4000, 2600], seed=8)
    torch.manual_seed(9)
    with torch.no_grad():
        out = ours.train()(x, attention_mask=mask, output_hidden_states=True)
    states = out.hidden_states
    assert len(states) == cfg.num_hidden_layers + 1
    if layerdrop == 1.0:
        assert all(torch.equal(s, states[0]) for s in states)


def test_no_padding_with_lengths_equals_no_lengths():
    """Lengths that pad nothing leave the mask out of attention (decided on the CPU, no device sync): the
    outputs are bit-identical to a call without lengths."""
    cfg = small_config("group-postln")
    _, ours = model_pair(cfg, seed=1)
    x, _ = padded_batch([4000, 4000], seed=2)
    with torch.no_grad():
        plain = ours(x).last_hidden_state
        with_lengths = ours(x, sample_lengths=torch.tensor([4000, 4000])).last_hidden_state
    assert torch.equal(plain, with_lengths)


@pytest.mark.parametrize(("preset", "count"), [("base", 94_371_712), ("large_lv60", 315_438_720)])
def test_preset_parameter_counts(preset, count):
    cfg = getattr(Wav2Vec2Config, preset)()
    with torch.device("meta"):  # count without allocating 1.2 GB
        from w2v_lite import Wav2Vec2Model

        model = Wav2Vec2Model(cfg)
    assert sum(p.numel() for p in model.parameters()) == count


def test_large_preset_matches_transformers_parameter_count():
    import transformers

    cfg = Wav2Vec2Config.large()
    with torch.device("meta"):
        from w2v_lite import Wav2Vec2Model

        ours = sum(p.numel() for p in Wav2Vec2Model(cfg).parameters())
        ref = sum(p.numel() for p in transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**cfg.to_hf_dict()))
                  .parameters())
    assert ours == ref


def test_masked_time_indices_match_transformers():
    cfg = small_config("lv60-like")
    hf, ours = model_pair(cfg, seed=7)
    x, mask = padded_batch([4000, 3000], seed=8)
    frames = ours(x, attention_mask=mask).frame_mask
    spans = torch.zeros_like(frames)
    spans[0, 2:6] = True
    spans[1, 1:3] = True
    with torch.no_grad():
        ref = hf(x, attention_mask=mask, mask_time_indices=spans).last_hidden_state
        out = ours(x, attention_mask=mask, mask_time_indices=spans).last_hidden_state
    torch.testing.assert_close(out[frames], ref[frames], atol=1e-5, rtol=0)


def test_fresh_init_matches_transformers_statistics():
    """A new model is initialised like transformers' (kaiming convs, N(0, 0.02) linears, ...): each weight's
    standard deviation matches the reference's, so random-init demos behave like random-init HF models."""
    import transformers

    from w2v_lite import Wav2Vec2Model

    cfg = Wav2Vec2Config.tiny()
    torch.manual_seed(0)
    ours = dict(Wav2Vec2Model(cfg).named_parameters())
    ref = dict(transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**cfg.to_hf_dict())).named_parameters())
    assert ours.keys() == ref.keys()
    for name, p in ref.items():
        if p.numel() >= 1000:
            assert ours[name].std().item() == pytest.approx(p.std().item(), rel=0.15), name


def test_fresh_conv_features_are_not_starved():
    """PyTorch's default conv init would shrink the tiny conv stack's output below LayerNorm's eps."""
    from w2v_lite import Wav2Vec2Model, audio

    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    clip = audio.load_default()
    with torch.no_grad():
        conv = model.feature_extractor(((clip - clip.mean()) / clip.std())[None])
    assert conv.var().item() > 1e-3
