"""w2v_lite.widgets: the text every widget shows is right, and it updates when the slider moves."""

import ipywidgets
import pytest
import torch

from w2v_lite import Wav2Vec2Config, Wav2Vec2Model, output_lengths
from w2v_lite.teach.widgets import (
    FRAMES_LABEL_CLASS,
    clip_of_length,
    format_error,
    frames_per_layer_text,
    length_slider,
    mask_bar_html,
    padding_report,
    padding_widget,
    shape_flow_html,
    shape_flow_widget,
)


def test_frames_per_layer_text_lists_every_layer():
    assert frames_per_layer_text(48000) == (
        "48000 samples (3.000 s): 9599 → 4799 → 2399 → 1199 → 599 → 299 → 149 frames")
    assert frames_per_layer_text(16000).endswith("→ 49 frames")
    assert frames_per_layer_text(399).endswith("→ 0 frames")
    assert frames_per_layer_text(400).endswith("→ 1 frames")


@pytest.mark.parametrize("n", [400, 719, 720, 16000, 16001, 160000])
def test_frames_per_layer_text_matches_output_lengths(n):
    assert frames_per_layer_text(n).endswith(f"→ {output_lengths(n)} frames")


def test_frames_per_layer_text_follows_the_config():
    cfg = Wav2Vec2Config.base(conv_kernel=(10, 3), conv_stride=(5, 2), conv_dim=(512, 512))
    assert frames_per_layer_text(1000, cfg) == "1000 samples (0.062 s): 199 → 99 frames"


def test_length_slider_updates_its_label():
    box = length_slider(48000)
    assert isinstance(box, ipywidgets.VBox)
    slider, label = box.children
    assert isinstance(slider, ipywidgets.IntSlider) and isinstance(label, ipywidgets.Label)
    assert FRAMES_LABEL_CLASS in label._dom_classes
    assert label.value == frames_per_layer_text(48000)
    slider.value = 48000 + 4 * slider.step  # four keyboard steps (4 x 80 = one 320-sample hop)
    assert label.value.endswith("→ 150 frames")
    slider.value = 300
    assert label.value.endswith("→ 0 frames")


def test_shape_flow_html_shows_every_stage():
    html = shape_flow_html([("waveform", (1, 16000)), ("conv <encoder>", (1, 512, 49))])
    assert "(1, 16000)" in html and "(1, 512, 49)" in html and " → " in html
    assert "&lt;encoder&gt;" in html  # names are escaped


def test_clip_of_length_cuts_and_repeats():
    clip = torch.arange(5.0)
    assert clip_of_length(clip, 3).tolist() == [0.0, 1.0, 2.0]
    assert clip_of_length(clip, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    with pytest.raises(ValueError, match=r"num_samples must be >= 1, got 0"):
        clip_of_length(clip, 0)


def test_shape_flow_widget_redraws_from_a_real_forward_pass(small_model):
    box = shape_flow_widget(small_model(num_hidden_layers=1), torch.randn(8000), value_ms=1000, min_ms=500, max_ms=2000)
    slider, html = box.children
    assert "(1, 16, 49)" in html.value and "(1, 49, 32)" in html.value
    slider.value = 2000
    assert "(1, 32000)" in html.value and "(1, 99, 16)" in html.value and "(1, 99, 32)" in html.value


def test_format_error_is_stable_text():
    assert format_error(0.0) == "<= 1e-05"
    assert format_error(1e-5) == "<= 1e-05"
    assert format_error(0.834309) == "0.83"
    assert format_error(2.5e-3) == "0.0025"


def test_mask_bar_html():
    bar = mask_bar_html(49, 74)
    assert "49 valid frames + 25 padded = T 74" in bar and "width:147px" in bar and "width:75px" in bar
    with pytest.raises(ValueError, match="need 0 <= valid <= total, got valid=5, total=4"):
        mask_bar_html(5, 4)


def test_padding_widget_reports_the_measured_errors(small_model):
    models = {"group": small_model(num_hidden_layers=1),
              "layer": small_model(num_hidden_layers=1, feat_extract_norm="layer", conv_bias=True)}
    clip = torch.randn(8000, generator=torch.Generator().manual_seed(0))
    assert padding_report(models, clip, 0) == "group: max change <= 1e-05; layer: max change <= 1e-05"
    box = padding_widget(models, clip, value_ms=0, max_ms=1000)
    slider, bar, label = box.children
    assert "0 padded" in bar.value and label.value.count("<= 1e-05") == 2
    slider.value = 500  # 8000 zeros: 25 more frames
    assert f"{output_lengths(8000)} valid frames + 25 padded" in bar.value
    group, layer = label.value.split("; ")
    assert layer == "layer: max change <= 1e-05"
    assert group.startswith("group: max change ") and float(group.split()[-1]) > 1e-3


# ---- moved out of the notebooks: the cells that set a widget's value and asserted on its output ----------

def test_notebook_01_slider_reaches_every_frame_boundary():
    slider, label = length_slider(48000, Wav2Vec2Config.base()).children
    slider.value = 16000
    assert label.value.endswith("→ 49 frames")
    for frames in (1, 10, 50, 154):
        slider.value = 400 + 320 * (frames - 1)  # the shortest clip with that many frames
        assert slider.value % slider.step == 0 and label.value.endswith(f"→ {frames} frames")


def test_notebook_02_shape_flow_widget_with_base_widths():
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config.base(num_hidden_layers=1)).eval()  # one layer: same shapes
    slider, boxes = shape_flow_widget(model, torch.randn(16000), value_ms=1000).children
    assert "(1, 512, 49)" in boxes.value and "(1, 49, 768)" in boxes.value
    slider.value = 2000
    assert "(1, 512, 99)" in boxes.value and "(1, 99, 768)" in boxes.value


def test_notebook_03_padding_widget_with_the_three_models():
    from w2v_lite.data.audio import load_default
    from w2v_lite.teach.figures import padding_models

    pad_slider, bar, report = padding_widget(padding_models(), load_default()[:16000], value_ms=1000).children
    pad_slider.value = 0
    assert report.value.count("<= 1e-05") == 3
    pad_slider.value = 500
    assert "25 padded" in bar.value
    assert "GroupNorm (base-style): max change <= 1e-05" not in report.value
    assert "mask-aware GroupNorm: max change <= 1e-05" in report.value
    assert "LayerNorm (lv60-style): max change <= 1e-05" in report.value
