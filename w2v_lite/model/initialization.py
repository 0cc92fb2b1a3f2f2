"""Weight initialisation as transformers does it: `transformers_init_`, applied by every w2v_lite model when
it is constructed (its docstring says why PyTorch's default would not do)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def transformers_init_(model: nn.Module, initializer_range: float = 0.02) -> nn.Module:
    """Re-initialise a w2v_lite model in place as transformers' `Wav2Vec2PreTrainedModel._init_weights`.

    PyTorch's default Conv1d init (variance 1/(3 fan_in)) shrinks the signal at every layer of the conv
    stack: in the tiny config the features reach the LayerNorm with a variance near 1e-7, below its eps,
    so the quantizer sees almost nothing, every frame's code distribution is flat and the Gumbel targets
    are noise (pretraining then sits at chance). Kaiming-normal convs (variance 2/fan_in) keep the scale.
    Linear N(0, 0.02), projection U(+-1/sqrt(C)), positional conv bias 0; the quantizer,
    project_hid/project_q and masked_spec_embed keep their own (already transformers-like) init.
    """
    keep = ("quantizer.", "project_hid", "project_q")
    for name, module in model.named_modules():
        if name.startswith(keep) or ".quantizer" in name:
            continue
        if name.endswith("feature_projection.projection"):
            bound = module.in_features**-0.5
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, initializer_range)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d) and name.endswith("pos_conv_embed.conv"):
            # transformers 5.x asks for N(0, 2/sqrt(K*H)) here, but its init writes to the weight-normed
            # tensor, which is recomputed from g and v; in effect v keeps PyTorch's default init and only
            # the bias is zeroed. We match what the reference does, not what it asks for.
            assert module.bias is not None  # the positional conv is built with a bias, as in transformers
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                bound = (module.groups / (module.in_channels * module.kernel_size[0])) ** 0.5
                nn.init.uniform_(module.bias, -bound, bound)
    return model
