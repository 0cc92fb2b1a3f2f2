"""The chunked encoder: windows on the 320-sample grid, stitched frames that cover the clip exactly once,
exact for the conv stack (which only looks at each frame's own 400 samples), and a stitching error that
falls as the context (stride) grows."""

import pytest
import torch

from w2v_lite.asr.chunking import chunk_plan, encode_chunked, stitching_error
from w2v_lite.asr.recognizer import Recognizer
from w2v_lite.config import Wav2Vec2Config
from w2v_lite.data.audio import corpus_items, load, normalize
from w2v_lite.lengths import output_lengths
from w2v_lite.model.wav2vec2 import Wav2Vec2Model

TINY = Wav2Vec2Config.tiny()


@pytest.mark.parametrize("num_samples", [400, 719, 720, 16000, 160_000, 160_321, 481_999])
@pytest.mark.parametrize(("chunk", "stride"), [(1.0, 0.1), (2.5, 0.5), (10.0, 2.0), (3.0, 0.0)])
def test_plan_is_on_the_grid_and_covers_every_frame_once(num_samples, chunk, stride):
    plan = chunk_plan(num_samples, TINY, chunk, stride)
    total = output_lengths(num_samples, TINY)
    kept = []
    for c in plan:
        assert c.start % 320 == 0  # every window starts on the hop: local frame j = global frame start/320 + j
        assert c.stop <= num_samples and output_lengths(c.stop - c.start, TINY) >= c.keep_to
        local = output_lengths(c.stop - c.start, TINY)
        assert 0 <= c.keep_from < c.keep_to <= local
        assert c.frame_from == c.start // 320 + c.keep_from
        kept += range(c.frame_from, c.frame_from + c.keep_to - c.keep_from)
        # the kept frames have `stride` frames of context on each side, except at the clip's ends
        context = round(stride * 16000 / 320)
        assert c.keep_from == min(context, c.frame_from)
    assert kept == list(range(total))


def test_bad_plans():
    with pytest.raises(ValueError, match="keeps no frame"):
        chunk_plan(16000, TINY, 1.0, 0.5)
    with pytest.raises(ValueError, match="must be > 0"):
        chunk_plan(16000, TINY, 0.0, 0.0)
    with pytest.raises(ValueError, match="fewer than the 400"):
        chunk_plan(399, TINY, 1.0, 0.1)
    with pytest.raises(ValueError, match=r"\(L,\)"):
        encode_chunked(Wav2Vec2Model(TINY), torch.zeros(2, 16000))


def test_stitched_frame_t_covers_samples_320t_to_320t_plus_400():
    """The layer-norm conv stack sees only each frame's own window, so stitched conv features equal the
    full pass exactly, and frame t equals the conv stack run on samples [320 t, 320 t + 400) alone."""
    torch.manual_seed(0)
    model = Wav2Vec2Model(TINY.replace(feat_extract_norm="layer", conv_bias=True)).eval()
    x = torch.randn(50_000, generator=torch.Generator().manual_seed(1))

    def conv(chunk):
        return model.feature_extractor(chunk).transpose(1, 2)

    full = conv(x[None])[0].detach()
    stitched = encode_chunked(model, x, chunk_seconds=0.5, stride_seconds=0.06, forward=conv)
    assert stitched.shape == full.shape == (output_lengths(50_000), 64)
    torch.testing.assert_close(stitched, full, atol=1e-5, rtol=1e-5)
    for t in (0, 17, 100, stitched.shape[0] - 1):
        with torch.no_grad():
            alone = conv(x[None, 320 * t: 320 * t + 400])[0, 0]
        torch.testing.assert_close(stitched[t], alone, atol=1e-5, rtol=1e-5)


def test_chunk_covering_the_clip_is_the_full_pass():
    model = Recognizer.load().model
    x = normalize(load(corpus_items("test")[0][0])[None])[0]
    full = model(x[None]).logits[0].detach()
    torch.testing.assert_close(encode_chunked(model, x, chunk_seconds=30.0, stride_seconds=1.0), full)


def test_stitching_error_falls_as_the_stride_grows():
    """6 s of corpus speech in 2 s windows. A layer-norm model's error comes from missing context only, and
    all but vanishes once the stride covers half the positional conv (16 frames = 0.32 s for tiny); the
    committed GroupNorm checkpoint keeps a floor, because layer 0 is normalised over each window."""
    clip = torch.cat([load(p) for p, _ in corpus_items("test")[:8]])[:96_000]
    x = normalize(clip[None])[0]
    torch.manual_seed(0)
    layer = Wav2Vec2Model(TINY.replace(feat_extract_norm="layer", conv_bias=True)).eval()
    errors = [stitching_error(layer, x, 2.0, stride) for stride in (0.0, 0.1, 0.4)]
    assert errors[0] > errors[1] > 4 * errors[2]
    assert errors[2] < 0.01
    model = Recognizer.load().model
    group = [stitching_error(model, x, 2.0, stride) for stride in (0.0, 0.4)]
    assert group[0] > group[1] > 0.05  # better with context, but a floor remains
