"""Every "Try it" exercise of notebooks 01-03: the worked solution passes its check, wrong answers don't.

Each reference solution below is the computation of the notebook's `<details>` block, run here with the
package (not a typed-in number), so a check that drifted from the lesson fails.
"""

import pytest
import torch

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, output_lengths, receptive_field
from w2v_lite.data.audio import load_default
from w2v_lite.teach import check
from w2v_lite.teach.padding import leak_without_zeroing, padding_waste, realistic_lengths
from w2v_lite.teach.widgets import length_slider, padding_widget


def solution_01_1() -> int:
    slider, label = length_slider().children
    for n in range(0, 6000, slider.step):  # walk the slider up until the label says 10 frames
        slider.value = n
        if label.value.endswith("→ 10 frames"):
            return n
    raise AssertionError("the slider never showed 10 frames")


def solution_01_2() -> tuple[int, int, int]:
    cfg = Wav2Vec2Config.base(conv_stride=(5, 2, 2, 2, 2, 2, 1))
    return (*receptive_field(cfg), output_lengths(16000, cfg))


def solution_01_3() -> int:
    return next(n for n in range(16000, 17000) if output_lengths(n) == 50)


def solution_01_4() -> int:
    clip = load_default()
    torch.manual_seed(0)
    grouped = Wav2Vec2Model(Wav2Vec2Config.tiny()).eval()
    field, hop = receptive_field()
    t = 50
    first, last = t * hop, t * hop + field - 1
    with torch.no_grad():
        ref = grouped(clip[None]).extract_features[0, t]
        moved = 0
        for p in (first - 1, first, last, last + 1):
            poked = clip.clone()
            poked[p] += 0.5
            moved += not torch.equal(grouped(poked[None]).extract_features[0, t], ref)
    return moved


def solution_02_1() -> tuple[int, int, int]:
    torch.manual_seed(0)
    large = Wav2Vec2Model(Wav2Vec2Config.large(num_hidden_layers=1)).eval()  # one layer: same shapes, faster
    with torch.no_grad():
        conv = large.feature_extractor(load_default()[None, :16000])
        out = large(load_default()[None, :16000]).last_hidden_state
    return conv.shape[2], conv.shape[1], out.shape[2]


def solution_02_2() -> float:
    cfg = Wav2Vec2Config.tiny()
    return cfg.num_conv_pos_embeddings * receptive_field(cfg)[1] / cfg.sampling_rate


def solution_02_3() -> int:
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.base(num_hidden_layers=1))
    return sum(p.numel() for p in model.feature_extractor.parameters())


def solution_03_1() -> int:
    torch.manual_seed(0)
    models = {"m": Wav2Vec2Model(Wav2Vec2Config.tiny(num_hidden_layers=1)).eval()}
    pad_slider, bar, _ = padding_widget(models, load_default()[:16000], value_ms=0).children
    for ms in range(0, pad_slider.max + 1, pad_slider.step):
        pad_slider.value = ms
        if "+ 10 padded" in bar.value:
            return ms
    raise AssertionError("no slider position gave 10 padded frames")


def solution_03_2() -> int:
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.tiny(feat_extract_norm="layer", num_conv_pos_embeddings=64,
                                              num_conv_pos_embedding_groups=4)).eval()
    return leak_without_zeroing(model, load_default()[:16000], extra_samples=16000).leaky_frames


def solution_03_3() -> float:
    return padding_waste(realistic_lengths(400, seed=0), batch_size=32)["bucketed"]


SOLUTIONS = {
    "01_1": solution_01_1, "01_2": solution_01_2, "01_3": solution_01_3, "01_4": solution_01_4,
    "02_1": solution_02_1, "02_2": solution_02_2, "02_3": solution_02_3,
    "03_1": solution_03_1, "03_2": solution_03_2, "03_3": solution_03_3,
}
WRONG = {
    "01_1": 3300, "01_2": (480, 160, 98), "01_3": 16000, "01_4": 2,
    "02_1": (49, 1024, 1024), "02_2": 32, "02_3": 4_200_000,
    "03_1": 100, "03_2": 32, "03_3": 0.626,
}


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_reference_solution_is_correct(name, capsys):
    assert getattr(check, f"exercise_{name}")(SOLUTIONS[name]()) is True
    assert capsys.readouterr().out.startswith("correct: ")


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_gets_a_hint(name, capsys):
    assert getattr(check, f"exercise_{name}")(WRONG[name]) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and out.count("\n") == 1 and len(out) > len("not yet: ") + 10


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
@pytest.mark.parametrize("bad", ["abc", object(), [1, "x"], float("nan")])
def test_wrong_type_gets_a_hint_not_a_traceback(name, bad, capsys):
    assert getattr(check, f"exercise_{name}")(bad) is False
    assert capsys.readouterr().out.startswith("not yet: ")


def test_solution_03_3_is_the_measured_growth():
    # the lesson's point: bucketing wastes more at batch 32 than at 8, yet far less than naive batches of 32
    lengths = realistic_lengths(400, seed=0)
    small, big = padding_waste(lengths, batch_size=8), padding_waste(lengths, batch_size=32)
    assert small["bucketed"] < big["bucketed"] < big["naive"] / 5


@pytest.mark.parametrize("name", sorted(n.removeprefix("exercise_") for n in dir(check) if n.startswith("exercise_")))
def test_an_unanswered_exercise_says_so(name, capsys):
    # every exercise cell starts from None: the check says "not answered yet", not a wrong-answer hint
    assert getattr(check, f"exercise_{name}")(None) is False
    out = capsys.readouterr().out
    assert out.startswith("not answered yet: ") and out.count("\n") == 1


def test_every_exercise_of_01_to_03_is_tested():
    names = {n.removeprefix("exercise_") for n in dir(check) if n.startswith("exercise_0")}
    assert {n for n in names if n[:2] in ("01", "02", "03")} == set(SOLUTIONS)


def test_checks_accept_tensors_and_numpy_numbers(capsys):
    assert check.exercise_01_1(torch.tensor(solution_01_1()))
    assert check.exercise_01_2(torch.tensor(solution_01_2()))
