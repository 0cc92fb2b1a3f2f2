"""Wav2Vec2ForPreTraining: loss parity with transformers, self-drawn masks/negatives, bad input."""

import numpy as np
import pytest
import torch
import transformers
from hf_utils import model_pair, padded_batch, rel_error, small_config

from w2v_lite.lengths import frame_mask, output_lengths
from w2v_lite.model.masking import compute_mask_indices, sample_negative_indices
from w2v_lite.model.pretraining import Wav2Vec2ForPreTraining, contrastive_logits, contrastive_loss, diversity_loss

# Unusual quantizer sizes on top of the lead's small encoders: G groups of V codes, D, P, K.
QUANT = dict(num_codevector_groups=3, num_codevectors_per_group=11, codevector_dim=21, proj_codevector_dim=13,
             num_negatives=7, mask_time_prob=0.5, mask_time_length=3, mask_time_min_masks=2)
CONFIGS = {
    "group-norm": lambda: small_config("group-postln", **QUANT),
    # LayerNorm conv stack with bias + pre-LN ("stable") transformer, like large-lv60
    "layer-norm-stable": lambda: small_config(
        "lv60-like", **{**QUANT, "num_codevector_groups": 4, "num_codevectors_per_group": 5,
                        "codevector_dim": 8, "proj_codevector_dim": 10}),
}
LENGTHS = [4000, 2600, 3333]


def _pair(cfg, seed=0):
    return model_pair(cfg, seed, Wav2Vec2ForPreTraining)


def _masks(cfg, attention_mask, num_samples, seed=0):
    """Frame mask, span mask inside it and negatives, as numpy (drawn with our helpers)."""
    frames = output_lengths(num_samples, cfg)
    fm = frame_mask(output_lengths(attention_mask.sum(-1), cfg), frames)
    np.random.seed(seed)
    shape = (attention_mask.shape[0], frames)
    mask = compute_mask_indices(shape, cfg.mask_time_prob, cfg.mask_time_length, fm, cfg.mask_time_min_masks)
    return fm, mask, sample_negative_indices(shape, cfg.num_negatives, mask)


def _args(attention_mask, mask, neg):
    return dict(attention_mask=attention_mask, mask_time_indices=torch.tensor(mask),
                sampled_negative_indices=torch.tensor(neg))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_transformers_on_padded_batch(name, seed):
    cfg = CONFIGS[name]()
    hf, ours = _pair(cfg, seed)
    x, am = padded_batch(LENGTHS, seed=seed + 10)
    fm, mask, neg = _masks(cfg, am, x.shape[1], seed)
    args = _args(am, mask, neg)
    with torch.no_grad():
        ref, out = hf(x, **args), ours(x, **args)
    for key in ("loss", "contrastive_loss", "diversity_loss", "codevector_perplexity"):
        assert rel_error(getattr(out, key), getattr(ref, key)) < 1e-5, key
    assert torch.equal(out.frame_mask, fm) and torch.equal(out.mask_time_indices, torch.tensor(mask))
    for key in ("projected_states", "projected_quantized_states"):
        torch.testing.assert_close(getattr(out, key)[fm], getattr(ref, key)[fm], rtol=0, atol=1e-5)
    # the loss is exactly the summed per-frame cross-entropy over the returned logits
    n_masked = int(mask.sum())
    assert out.logits.shape == (3, fm.shape[1], 1 + cfg.num_negatives)
    by_hand = -torch.log_softmax(out.logits[torch.tensor(mask)], -1)[:, 0].sum()
    assert rel_error(by_hand, out.contrastive_loss) < 1e-6
    gv = cfg.num_codevector_groups * cfg.num_codevectors_per_group
    assert rel_error(out.diversity_loss, (gv - out.codevector_perplexity) / gv * n_masked) < 1e-6


def test_train_mode_matches_transformers_under_same_seed():
    """Dropout 0, same torch seed: the Gumbel noise, losses and gradients agree."""
    cfg = CONFIGS["group-norm"]()
    hf, ours = _pair(cfg, 3)
    hf.train(), ours.train()
    hf.set_gumbel_temperature(0.7), ours.set_gumbel_temperature(0.7)
    x, am = padded_batch(LENGTHS, seed=4)
    _, mask, neg = _masks(cfg, am, x.shape[1], 4)
    args = _args(am, mask, neg)
    torch.manual_seed(9)
    ref = hf(x, **args)
    torch.manual_seed(9)
    out = ours(x, **args)
    for key in ("loss", "contrastive_loss", "diversity_loss", "codevector_perplexity"):
        assert rel_error(getattr(out, key), getattr(ref, key)) < 1e-5, key
    ref.loss.backward(), out.loss.backward()
    ours_params = dict(ours.named_parameters())
    for name, p in hf.named_parameters():
        scale = p.grad.abs().max().item()
        atol = 1e-4 * scale + 1e-7
        torch.testing.assert_close(ours_params[name].grad, p.grad, rtol=1e-4, atol=atol, msg=name)


def test_training_draws_masks_and_negatives_itself():
    cfg = CONFIGS["group-norm"]()
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg).train()
    x, am = padded_batch(LENGTHS, seed=5)
    fm, mask, neg = _masks(cfg, am, x.shape[1], seed=6)  # what the model must draw from the same seed
    np.random.seed(6)
    out = model(x, attention_mask=am)
    assert torch.equal(out.mask_time_indices, torch.tensor(mask))
    assert not (out.mask_time_indices & ~fm).any()  # masks respect the frame mask
    assert torch.equal(out.sampled_negative_indices, torch.tensor(neg).long())
    assert torch.isfinite(out.loss)
    out.loss.backward()
    names = ("quantizer.weight_proj.weight", "quantizer.codevectors", "project_hid.weight",
             "project_q.weight", "wav2vec2.masked_spec_embed",
             "wav2vec2.feature_extractor.conv_layers.0.conv.weight")
    for name in names:
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_eval_without_masks_returns_states_and_no_loss():
    cfg = CONFIGS["group-norm"]()
    hf, ours = _pair(cfg)
    x, am = padded_batch(LENGTHS, seed=7)
    with torch.no_grad():
        ref, out = hf(x, attention_mask=am), ours(x, attention_mask=am)
        by_lengths = ours(x, sample_lengths=am.sum(-1))  # torchaudio-style lengths give the same result
    assert torch.equal(by_lengths.projected_quantized_states, out.projected_quantized_states)
    assert out.loss is None and out.mask_time_indices is None and out.logits is None
    assert rel_error(out.codevector_perplexity, ref.codevector_perplexity) < 1e-5
    assert out.code_indices.shape == (3, out.frame_mask.shape[1], 3)
    with torch.no_grad():
        quantized = ours.quantizer(ours.wav2vec2(x, am).extract_features)[0]
    assert torch.equal(ours.quantizer.lookup(out.code_indices), quantized)


def test_contrastive_logits_by_hand_for_one_frame():
    g = torch.Generator().manual_seed(0)
    pred, quant = torch.randn(2, 5, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    quant[1, 4] = quant[1, 2]  # frame 4 has the same target as frame 2
    neg = torch.tensor([[[5 + 2, 5 + 4]] * 5] * 2)  # flat indices into B*T = 10: frames (1, 2) and (1, 4)
    neg[0] -= 5
    logits = contrastive_logits(pred, quant, neg, temperature=0.5)
    assert logits.shape == (2, 5, 3) and logits.dtype == torch.float32

    def cos(a, b):
        return (a @ b / (a.norm() * b.norm())).item()

    assert logits[1, 3, 0].item() == pytest.approx(cos(pred[1, 3], quant[1, 3]) / 0.5, rel=1e-6)
    assert logits[1, 3, 1].item() == pytest.approx(cos(pred[1, 3], quant[1, 2]) / 0.5, rel=1e-6)
    # frame (1, 2): both distractors equal its own target -> -inf, loss 0
    assert torch.isinf(logits[1, 2, 1:]).all() and torch.isfinite(logits[1, 2, 0])
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 2] = mask[1, 3] = True
    expected = -torch.log_softmax(logits[1, 3], -1)[0]
    assert contrastive_loss(logits, mask).item() == pytest.approx(expected.item(), rel=1e-6)
    assert diversity_loss(torch.tensor(6.0), 8, 4).item() == pytest.approx(1.0)


def test_checkpoint_round_trips(tmp_path):
    cfg = CONFIGS["layer-norm-stable"]()
    hf, ours = _pair(cfg)
    hf.save_pretrained(tmp_path / "hf")
    loaded = Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "hf")
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "ours").eval()
    x, am = padded_batch(LENGTHS[:2], seed=8)
    with torch.no_grad():
        a, b, c = ours(x, am), loaded(x, am), back(x, attention_mask=am)
    assert torch.equal(a.projected_quantized_states, b.projected_quantized_states)
    v = a.frame_mask
    torch.testing.assert_close(a.projected_states[v], c.projected_states[v], rtol=0, atol=1e-5)
    # a bare encoder checkpoint has no quantizer: strict loading names the missing keys
    ours.wav2vec2.save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match=r"quantizer\.codevectors"):
        Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "bare")


def test_set_gumbel_temperature():
    model = Wav2Vec2ForPreTraining(CONFIGS["group-norm"]())
    model.set_gumbel_temperature(0.5)
    assert model.quantizer.temperature == 0.5
    with pytest.raises(ValueError, match="> 0"):
        model.set_gumbel_temperature(0)


def test_bad_input():
    cfg = CONFIGS["group-norm"]()
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg.replace(mask_time_length=60)).train()
    x, am = padded_batch(LENGTHS, seed=9)  # 165 frames at most, the 2600-sample clip has 107
    short_x, short_am = padded_batch([800, 700], seed=9)  # 32 frames < a 60-frame span
    with pytest.raises(ValueError, match=r"mask_length \(60 frames\) is longer than the sequence \(32"):
        model(short_x, attention_mask=short_am)
    # a padded clip shorter than one span gets no masked frame -> no negatives can be drawn
    x2, am2 = padded_batch([4000, 1000], seed=9)
    np.random.seed(0)
    with pytest.raises(ValueError, match="utterance 1 has 0 masked frame"):
        model(x2, attention_mask=am2)
    model = Wav2Vec2ForPreTraining(cfg).train()
    frames = output_lengths(x.shape[1], cfg)
    one = torch.zeros(3, frames, dtype=torch.bool)
    one[:, 0] = True
    one[0, 1] = True
    with pytest.raises(ValueError, match="utterance 1 has 1 masked frame"):
        model(x, attention_mask=am, mask_time_indices=one)
    padded = torch.zeros(3, frames, dtype=torch.bool)
    padded[1, -2:] = True
    with pytest.raises(ValueError, match="padded frames"):
        model(x, attention_mask=am, mask_time_indices=padded)
    with pytest.raises(ValueError, match="needs the mask_time_indices"):
        model(x, attention_mask=am, sampled_negative_indices=torch.zeros(3, frames, 2, dtype=torch.long))
    _, mask, neg = _masks(cfg, am, x.shape[1])
    with pytest.raises(ValueError, match="flat indices"):
        model(x, attention_mask=am, mask_time_indices=torch.tensor(mask),
              sampled_negative_indices=torch.tensor(neg) + 3 * frames)
    with pytest.raises(ValueError, match="mask_time_prob > 0"):
        Wav2Vec2ForPreTraining(cfg.replace(mask_time_prob=0.0)).train()(x, attention_mask=am)
