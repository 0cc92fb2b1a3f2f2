"""Gumbel-softmax product quantizer: the discrete targets of wav2vec 2.0 pretraining.

Each frame's 512-d conv feature (``extract_features``, before the projection to width H) is mapped to
G groups of V logits. Every group picks one of its V learned codevectors (each D/G wide) and the G picks
are concatenated into one D-dim quantized vector q_t. In training the pick is a hard Gumbel-softmax
sample (one-hot forward pass, soft gradient); in eval it is the argmax. Parameter names match
transformers' ``Wav2Vec2GumbelVectorQuantizer`` so state dicts load unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from w2v_lite.config import Wav2Vec2Config


def perplexity(probs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Codebook usage: ``probs (N, G, V), mask (N,) or (B, T) with B*T = N -> scalar``.

    The probabilities are averaged over the N frames (only frames where ``mask`` is True, if given) to a
    marginal distribution per group; its perplexity ``exp(entropy)`` is summed over the G groups. The
    maximum, G * V, means every codevector is used equally often.
    """
    if probs.dim() != 3:
        raise ValueError(f"probs must be (N, G, V), got shape {tuple(probs.shape)}")
    if mask is None:
        marginal = probs.mean(dim=0)
    else:
        mask = mask.flatten().to(torch.bool)
        if mask.numel() != probs.shape[0]:
            raise ValueError(f"mask has {mask.numel()} entries but probs has {probs.shape[0]} frames")
        if not mask.any():
            raise ValueError("mask selects no frame: perplexity of an empty set is undefined")
        # Zero the unmasked frames, then divide by the number of masked ones (transformers' order of ops).
        probs = torch.where(mask[:, None, None].expand(probs.shape), probs, torch.zeros_like(probs))
        marginal = probs.sum(dim=0) / mask.sum()
    return torch.exp(-torch.sum(torch.xlogy(marginal, marginal), dim=-1)).sum()


def gumbel_temperature(
    step: int, max_temp: float = 2.0, min_temp: float = 0.5, decay: float = 0.999995
) -> float:
    """Gumbel-softmax temperature at an optimizer step: ``max(max_temp * decay**step, min_temp)``.

    wav2vec 2.0 anneals from 2 to 0.5: with decay 0.999995 it reaches 0.5 after about 277k steps.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if not (math.isfinite(min_temp) and math.isfinite(max_temp) and 0 < min_temp <= max_temp):  # nan fails too
        raise ValueError(f"need finite 0 < min_temp <= max_temp, got min_temp={min_temp}, max_temp={max_temp}")
    if not 0 < decay <= 1:  # nan compares False: refused here instead of a nan temperature (and nan loss) later
        raise ValueError(f"decay must be in (0, 1] (the temperature only falls), got {decay}")
    return max(max_temp * decay**step, min_temp)


class GumbelVectorQuantizer(nn.Module):
    """``(B, T, C=conv_dim[-1]) -> codevectors (B, T, D=codevector_dim), perplexity ()``.

    Attributes (transformers names): ``codevectors`` (1, G*V, D/G), ``weight_proj`` Linear(C, G*V),
    ``temperature`` (float, set it each step with :func:`gumbel_temperature`).
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.num_groups = config.num_codevector_groups
        self.num_vars = config.num_codevectors_per_group
        if config.codevector_dim % self.num_groups:
            raise ValueError(
                f"codevector_dim ({config.codevector_dim}) must be divisible by num_codevector_groups "
                f"({self.num_groups}): each group contributes codevector_dim / groups channels"
            )
        self.codevectors = nn.Parameter(
            torch.empty(1, self.num_groups * self.num_vars, config.codevector_dim // self.num_groups)
        )
        self.weight_proj = nn.Linear(config.conv_dim[-1], self.num_groups * self.num_vars)
        self.temperature = 2.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """transformers' init: N(0, 1) projection (large logits, so the codes start out diverse), zero
        bias, U(0, 1) codevectors."""
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        nn.init.uniform_(self.codevectors)

    def logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Code logits: ``(B, T, C) -> (B, T, G, V)``."""
        return self.weight_proj(hidden_states).unflatten(-1, (self.num_groups, self.num_vars))

    def code_indices(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The eval-mode choice (argmax per group): ``(B, T, C) -> long (B, T, G)`` in ``[0, V)``."""
        return self.logits(hidden_states).argmax(dim=-1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Concatenate the chosen codevectors: ``long (B, T, G) -> (B, T, D)``."""
        groups = self.codevectors[0].view(self.num_groups, self.num_vars, -1)  # (G, V, D/G)
        picked = groups[torch.arange(self.num_groups, device=indices.device), indices]  # (B, T, G, D/G)
        return picked.flatten(-2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        mask_time_indices: torch.Tensor | None = None,
        return_indices: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, T, C), mask (B, T) -> codevectors (B, T, D), perplexity ()``
        (``+ indices long (B, T, G)`` with ``return_indices=True``).

        Perplexity is taken over the masked frames only when ``mask_time_indices`` is given: from the
        softmax probabilities in training and from the one-hot choices in eval (as transformers).
        """
        batch_size, sequence_length, _ = hidden_states.shape
        num_frames = batch_size * sequence_length
        logits = self.weight_proj(hidden_states).view(num_frames * self.num_groups, -1)

        if self.training:
            # Hard Gumbel-softmax: one-hot in the forward pass, softmax gradient in the backward pass.
            one_hot = F.gumbel_softmax(logits.float(), tau=self.temperature, hard=True).type_as(logits)
            soft = torch.softmax(logits.view(num_frames, self.num_groups, -1).float(), dim=-1)
            ppl = perplexity(soft, mask_time_indices)
        else:
            choice = logits.argmax(dim=-1)
            one_hot = logits.new_zeros(logits.shape).scatter_(-1, choice.view(-1, 1), 1.0)
            ppl = perplexity(one_hot.view(num_frames, self.num_groups, -1), mask_time_indices)

        # Multiply-and-sum (not indexing) so gradients flow through the straight-through one-hot.
        one_hot = one_hot.view(num_frames, -1)
        per_code = one_hot.unsqueeze(-1) * self.codevectors  # (B*T, G*V, D/G), zero except picked codes
        per_group = per_code.view(num_frames, self.num_groups, self.num_vars, -1)
        codevectors = per_group.sum(-2).view(batch_size, sequence_length, -1)
        if return_indices:
            indices = one_hot.view(batch_size, sequence_length, self.num_groups, -1).argmax(dim=-1)
            return codevectors, ppl, indices
        return codevectors, ppl
