"""Wav2Vec2ForCTC: logits, loss and gradient parity with transformers on padded batches; freezing; bad input."""

import pytest
import torch
import transformers
from hf_utils import model_pair, padded_batch, rel_error, small_config

from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.data.tokenizer import CharTokenizer
from w2v_lite.lengths import output_lengths
from w2v_lite.model.ctc import Wav2Vec2ForCTC, ctc_loss, label_lengths, required_frames

VOCAB = 11
CONFIGS = {  # group norm + post-LN (base-like) and layer norm + pre-LN with conv bias (lv60-like)
    "group-postln": dict(name="group-postln"),
    "lv60-like": dict(name="lv60-like"),
}
# Frames per clip for the group-postln stack (kernels 7,4,3 / strides 4,3,2): 4000 -> 165, 2600 -> 107,
# 200 -> 7. The third clip is too short for its label: 7 frames but 8 tokens, so no alignment exists.
LENGTHS = [4000, 2600, 200]
LABELS = torch.tensor([
    [3, 4, 5, 6, 7, 8, 3, 4, 5, -100],
    [1, 1, 2, 2, 9, 10, -100, -100, -100, -100],  # repeated tokens: each pair needs a blank in between
    [4, 5, 6, 7, 8, 9, 10, 3, -100, -100],
])
POSSIBLE = LABELS[:2]


def _cfg(name, **kw):
    base = dict(vocab_size=VOCAB, mask_time_prob=0.0)
    return small_config(name, **{**base, **kw})


def _pair(cfg, seed=0):
    return model_pair(cfg, seed, Wav2Vec2ForCTC)


def test_frame_lengths_are_ctc_input_lengths():
    cfg = _cfg("group-postln")
    assert output_lengths(torch.tensor(LENGTHS), cfg).tolist() == [165, 107, 7]
    _, ours = _pair(cfg)
    x, am = padded_batch(LENGTHS)
    with torch.no_grad():
        out = ours(x, attention_mask=am)
    assert out.logits.shape == (3, 165, VOCAB)
    assert out.frame_lengths.tolist() == [165, 107, 7]
    assert out.frame_mask.sum(-1).tolist() == [165, 107, 7]


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_logits_and_loss_match_transformers(name, reduction, zero_infinity):
    cfg = _cfg(name, ctc_loss_reduction=reduction, ctc_zero_infinity=zero_infinity)
    hf, ours = _pair(cfg, seed=1)
    # base-like stack of lv60-like: 4800 -> 14, 4000 -> 12, 1200 -> 3 frames (third clip impossible again)
    lengths = LENGTHS if name == "group-postln" else [4800, 4000, 1200]
    x, am = padded_batch(lengths, seed=2)
    with torch.no_grad():
        ref = hf(x, attention_mask=am, labels=LABELS)
        out = ours(x, attention_mask=am, labels=LABELS)
        by_lengths = ours(x, sample_lengths=am.sum(-1), labels=LABELS)
    m = out.frame_mask
    torch.testing.assert_close(out.logits[m], ref.logits[m], rtol=0, atol=1e-5)
    if not zero_infinity:  # the third clip cannot be aligned: both libraries say inf
        assert torch.isinf(out.loss) and torch.isinf(ref.loss)
    else:
        assert torch.isfinite(out.loss) and rel_error(out.loss, ref.loss) < 1e-5
    assert torch.equal(by_lengths.logits, out.logits)
    assert torch.equal(by_lengths.loss, out.loss)


def test_impossible_alignment_is_inf_and_zero_infinity_drops_it():
    cfg = _cfg("group-postln")
    _, ours = _pair(cfg, seed=3)
    x, am = padded_batch(LENGTHS, seed=4)
    with torch.no_grad():
        logits = ours(x, attention_mask=am).logits
    frames = torch.tensor([165, 107, 7])
    each = [ctc_loss(logits[i : i + 1], LABELS[i : i + 1], frames[i : i + 1]) for i in range(3)]
    assert torch.isfinite(each[0]) and torch.isfinite(each[1]) and torch.isinf(each[2])
    summed = ctc_loss(logits, LABELS, frames, zero_infinity=True)
    torch.testing.assert_close(summed, each[0] + each[1], rtol=1e-6, atol=0)  # the inf clip counts as 0
    # "mean": each clip's loss / its label length (9, 6, 8 tokens), then the batch average (with 0 for clip 3)
    mean = ctc_loss(logits, LABELS, frames, reduction="mean", zero_infinity=True)
    torch.testing.assert_close(mean, (each[0] / 9 + each[1] / 6) / 3, rtol=1e-6, atol=0)


def test_repeated_tokens_need_extra_frames():
    """A label of U tokens with r equal neighbours needs U + r frames: [1, 1, 1] needs 5, not 3."""
    logits = torch.zeros(1, 5, VOCAB)
    repeated, distinct = torch.tensor([[1, 1, 1]]), torch.tensor([[1, 2, 1]])
    for frames, finite in [(3, False), (4, False), (5, True)]:
        assert torch.isfinite(ctc_loss(logits, repeated, torch.tensor([frames]))).item() is finite
    assert torch.isfinite(ctc_loss(logits, distinct, torch.tensor([3])))
    zeroed = ctc_loss(logits.requires_grad_(), repeated, torch.tensor([4]), zero_infinity=True)
    zeroed.backward()
    assert zeroed.item() == 0 and torch.count_nonzero(logits.grad) == 0


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_gradients_match_transformers(reduction, zero_infinity):
    cfg = _cfg("group-postln", ctc_loss_reduction=reduction, ctc_zero_infinity=zero_infinity)
    hf, ours = _pair(cfg, seed=5)
    # with zero_infinity the impossible clip is in the batch and must contribute no gradient
    lengths, labels = (LENGTHS, LABELS) if zero_infinity else (LENGTHS[:2], POSSIBLE)
    x, am = padded_batch(lengths, seed=6)
    hf(x, attention_mask=am, labels=labels).loss.backward()
    ours(x, attention_mask=am, labels=labels).loss.backward()
    theirs = dict(hf.named_parameters())
    compared = 0
    for key, p in ours.named_parameters():
        ref = theirs[key].grad
        assert p.grad is not None and ref is not None, key
        torch.testing.assert_close(p.grad, ref, rtol=0, atol=1e-4, msg=key)
        compared += 1
    assert compared == len(theirs)
    assert ours.lm_head.weight.grad.abs().max() > 1e-3  # the check above is not vacuous


def test_train_mode_matches_transformers_without_dropout():
    cfg = _cfg("lv60-like")
    hf, ours = _pair(cfg, seed=7)
    hf.train(), ours.train()
    x, am = padded_batch([4800, 4000], seed=8)
    ref, out = hf(x, attention_mask=am, labels=POSSIBLE), ours(x, attention_mask=am, labels=POSSIBLE)
    assert rel_error(out.loss, ref.loss) < 1e-5


def test_dropout_sits_before_lm_head():
    ours = Wav2Vec2ForCTC(_cfg("group-postln", final_dropout=0.5))
    assert [name for name, _ in ours.named_children()] == ["wav2vec2", "dropout", "lm_head"]
    seen = []
    ours.lm_head.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    ours.train()
    torch.manual_seed(0)
    ours(padded_batch([2000])[0])
    zeros = (seen[0] == 0).float().mean().item()
    assert 0.4 < zeros < 0.6  # half of the lm_head's inputs were dropped


def test_no_mask_means_every_sample_is_real():
    cfg = _cfg("group-postln")
    hf, ours = _pair(cfg, seed=9)
    x, _ = padded_batch([3000, 3000], seed=10)
    with torch.no_grad():
        ref, out = hf(x, labels=POSSIBLE), ours(x, labels=POSSIBLE)
    assert out.frame_lengths.tolist() == [output_lengths(3000, cfg)] * 2
    assert rel_error(out.loss, ref.loss) < 1e-5


def test_log_softmax_in_fp32_for_half_logits():
    logits = torch.randn(2, 12, VOCAB, generator=torch.Generator().manual_seed(0))
    frames = torch.tensor([12, 9])
    ref = ctc_loss(logits, POSSIBLE, frames)
    half = ctc_loss(logits.to(torch.bfloat16), POSSIBLE, frames)
    assert half.dtype == torch.float32
    assert rel_error(half, ctc_loss(logits.to(torch.bfloat16).float(), POSSIBLE, frames)) < 1e-6
    assert rel_error(half, ref) < 1e-2


def test_freeze_feature_encoder_freezes_conv_stack_only():
    cfg = _cfg("group-postln")
    _, ours = _pair(cfg, seed=11)
    ours.freeze_feature_encoder()
    x, am = padded_batch(LENGTHS[:2], seed=12)
    ours(x, attention_mask=am, labels=POSSIBLE).loss.backward()
    for name, p in ours.named_parameters():
        if name.startswith("wav2vec2.feature_extractor."):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.requires_grad and p.grad is not None, name
    assert any(n.startswith("wav2vec2.feature_projection.") for n, p in ours.named_parameters() if p.grad is not None)
    ours.unfreeze_feature_encoder()
    ours.zero_grad()
    ours(x, attention_mask=am, labels=POSSIBLE).loss.backward()
    assert all(p.grad is not None for p in ours.parameters())


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([[3, VOCAB, -100]]), "outside the vocabulary"),
        (torch.tensor([[3, -1, 4]]), "outside the vocabulary"),
        (torch.tensor([[-100, -100, -100]]), "empty"),
        (torch.tensor([[0, 0, -100]]), "empty"),  # blank only: no token
        (torch.tensor([[3.0, 4.0]]), "integer tensor"),
        (torch.tensor([3, 4]), r"\(B, U\)"),
    ],
)
def test_bad_labels_raise(labels, message):
    ours = Wav2Vec2ForCTC(_cfg("group-postln"))
    x, _ = padded_batch([2000])
    with pytest.raises(ValueError, match=message):
        ours(x, labels=labels)


def test_label_lengths_counts_tokens():
    assert label_lengths(LABELS, VOCAB).tolist() == [9, 6, 8]


def test_save_and_load_with_vocab(tmp_path):
    tok = CharTokenizer.from_transcripts(["one two", "three"])  # <pad> <unk> | e h n o r t w = 10
    ours = Wav2Vec2ForCTC(_cfg("group-postln", vocab_size=tok.vocab_size)).eval()
    ours.save_pretrained(tmp_path, tokenizer=tok)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors", "vocab.json"}
    rec = Recognizer.load(tmp_path)
    model, loaded_tok = rec.model, rec.tokenizer
    assert loaded_tok.vocab == tok.vocab
    x, am = padded_batch([3000, 2000], seed=13)
    with torch.no_grad():
        a, b = ours(x, attention_mask=am).logits, model(x, attention_mask=am).logits
        hf = transformers.Wav2Vec2ForCTC.from_pretrained(tmp_path).eval()
        c = hf(x, attention_mask=am).logits
    assert torch.equal(a, b)
    m = model(x, attention_mask=am).frame_mask
    torch.testing.assert_close(c[m], a[m], rtol=0, atol=1e-5)


def test_folder_without_vocab_is_rejected(tmp_path):
    ours = Wav2Vec2ForCTC(_cfg("group-postln"))
    ours.save_pretrained(tmp_path)
    assert Wav2Vec2ForCTC.from_pretrained(tmp_path).config.vocab_size == VOCAB  # weights alone do load
    with pytest.raises(ValueError, match=r"vocab\.json"):
        Recognizer.load(tmp_path)


def test_vocab_size_mismatch_is_rejected(tmp_path):
    tok = CharTokenizer.from_transcripts(["ab"])  # 5 tokens, head has 11
    ours = Wav2Vec2ForCTC(_cfg("group-postln"))
    with pytest.raises(ValueError, match="vocab_size 11"):
        ours.save_pretrained(tmp_path, tokenizer=tok)


def test_load_encoder_copies_encoder_and_keeps_head(tmp_path):
    cfg = _cfg("group-postln", mask_time_prob=0.1)
    _, ours = _pair(cfg, seed=14)
    ours.save_pretrained(tmp_path)
    for mask_prob in (0.1, 0.0):  # with or without a learned mask embedding on the new model's side
        torch.manual_seed(1)
        model = Wav2Vec2ForCTC(cfg.replace(vocab_size=7, mask_time_prob=mask_prob))
        head = model.lm_head.weight.clone()
        model.load_encoder(tmp_path)
        assert torch.equal(model.lm_head.weight, head) and model.lm_head.out_features == 7
        for key, value in model.wav2vec2.state_dict().items():
            assert torch.equal(ours.wav2vec2.state_dict()[key], value), key


def test_required_frames_by_hand():
    # [3..5,3,4,5]: 9 distinct neighbours -> 9; [1,1,2,2,9,10]: 6 tokens + 2 repeats; the third: 8
    assert required_frames(LABELS).tolist() == [9, 8, 8]
    assert required_frames(torch.tensor([[1, 1, 1]])).tolist() == [5]
    # and it is exactly the boundary of the inf loss
    logits = torch.zeros(1, 8, VOCAB)
    for frames, finite in [(7, False), (8, True)]:
        loss = ctc_loss(logits, LABELS[1:2], torch.tensor([frames]))
        assert torch.isfinite(loss).item() is finite
