"""DiT (Peebles & Xie, "Scalable Diffusion Models with Transformers") written for TStitch.

Written from the architecture as published, not copied: what matters for serving is that the
parameter names and shapes are exactly those of the released checkpoints (DiT-XL-2-256x256.pt and
friends), so `load_state_dict(strict=True)` accepts them, and that the forward pass computes the
same function. No timm dependency: the two timm pieces DiT uses (PatchEmbed, Attention/Mlp) are
re-implemented with timm's sub-module names (`proj`, `qkv`, `proj`, `fc1`, `fc2`).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (depth, hidden size, heads, patch size), as in the paper's Table 1.
CONFIGS = {
    "S/2": (12, 384, 6, 2), "S/4": (12, 384, 6, 4), "S/8": (12, 384, 6, 8),
    "B/2": (12, 768, 12, 2), "B/4": (12, 768, 12, 4), "B/8": (12, 768, 12, 8),
    "L/2": (24, 1024, 16, 2), "L/4": (24, 1024, 16, 4), "L/8": (24, 1024, 16, 8),
    "XL/2": (28, 1152, 16, 2), "XL/4": (28, 1152, 16, 4), "XL/8": (28, 1152, 16, 8),
    # For tests only: exports in well under a second and still has every kind of parameter.
    "tiny": (2, 64, 4, 2),
    # The tiny pair's small model (cluster tests stitch tiny-1 -> tiny): same latent, classes and schedule.
    "tiny-1": (1, 64, 4, 2),
}
LATENT_CHANNELS = 4
VAE_DOWNSAMPLE = 8


def modulate(x, shift, scale):
    # adaLN: per-sample shift/scale broadcast over the token axis.
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class LayerNorm(nn.Module):
    """LayerNorm without learned affine (DiT's norms). Same as nn.LayerNorm(elementwise_affine=False)
    but passes a constant unit scale: torch 1.13 exports the affine-free module at opset 17 as a
    LayerNormalization with an empty scale input, which the ONNX checker rejects. The constants are
    non-persistent buffers, so the state dict (and checkpoint compatibility) is unchanged."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.register_buffer("unit", torch.ones(dim), persistent=False)
        self.register_buffer("zero", torch.zeros(dim), persistent=False)

    def forward(self, x):
        return F.layer_norm(x, (self.dim,), self.unit, self.zero, self.eps)


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> tokens (timm's PatchEmbed with flatten=True)."""

    def __init__(self, in_channels, hidden, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        x = self.proj(x)                      # N, D, H/p, W/p
        return x.flatten(2).transpose(1, 2)   # N, T, D


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of the (integer or real) timestep followed by a 2-layer MLP."""

    def __init__(self, hidden, frequency_size=256):
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    @staticmethod
    def sinusoidal(t, dim, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)   # cos first, as DiT does
        if dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return emb

    def forward(self, t):
        return self.mlp(self.sinusoidal(t, self.frequency_size))


class LabelEmbedder(nn.Module):
    """Class embedding table; row num_classes is the null class used for classifier-free guidance."""

    def __init__(self, num_classes, hidden, dropout_prob):
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + (1 if dropout_prob > 0 else 0), hidden)

    def forward(self, y):
        # Inference only: labels are used as given; callers ask for the null class explicitly.
        return self.embedding_table(y)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm's Attention, qkv_bias=True)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(n, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(n, tokens, dim)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, hidden, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = LayerNorm(hidden, eps=1e-6)
        self.attn = Attention(hidden, heads)
        self.norm2 = LayerNorm(hidden, eps=1e-6)
        self.mlp = Mlp(hidden, int(hidden * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden, bias=True))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden, patch, out_channels):
        super().__init__()
        self.norm_final = LayerNorm(hidden, eps=1e-6)
        self.linear = nn.Linear(hidden, patch * patch * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden, bias=True))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def sincos_1d(dim, positions):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(positions.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, grid_size):
    # DiT/MAE convention: the meshgrid is built (w, h), so the first half of the channels encodes
    # the column index of a token and the second half its row index.
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    first, second = np.meshgrid(grid_w, grid_h)
    return np.concatenate([sincos_1d(dim // 2, first), sincos_1d(dim // 2, second)], axis=1)


class DiT(nn.Module):
    def __init__(self, input_size=32, patch_size=2, in_channels=4, hidden_size=1152, depth=28, num_heads=16,
                 mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=1000, learn_sigma=True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.patch_size = patch_size
        self.input_size = input_size
        self.num_classes = num_classes
        self.x_embedder = PatchEmbed(in_channels, hidden_size, patch_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
        grid = input_size // patch_size
        # Fixed sin-cos table, but a (frozen) Parameter as in DiT, so it is part of the state dict
        # and of the published checkpoints.
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self, zero_init=True):
        """DiT's initialisation. zero_init=False keeps the adaLN and output layers random too: DiT
        zeroes them, which makes an untrained model output exactly 0 (useless for parity tests)."""
        def basic(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.apply(basic)
        grid = self.input_size // self.patch_size
        self.pos_embed.data.copy_(torch.from_numpy(sincos_2d(self.pos_embed.shape[-1], grid)).float().unsqueeze(0))
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        heads = [b.adaLN_modulation[-1] for b in self.blocks] + [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        for layer in heads:
            if zero_init:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            else:
                nn.init.normal_(layer.weight, std=0.02)
                nn.init.normal_(layer.bias, std=0.02)

    def unpatchify(self, x):
        # N, T, p*p*C -> N, C, H, W
        c, p = self.out_channels, self.patch_size
        g = self.input_size // p
        x = x.reshape(x.shape[0], g, g, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, g * p, g * p)

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final_layer(x, c))


def build(config, image_size=256, num_classes=None):
    """A DiT for a published config name ("XL/2", ...) or "tiny" (latent 4x8x8, 10 classes)."""
    if config not in CONFIGS:
        raise SystemExit(f"unknown DiT config '{config}'; known: {', '.join(CONFIGS)}")
    depth, hidden, heads, patch = CONFIGS[config]
    if config.startswith("tiny"):
        input_size, default_classes = 8, 10
    else:
        if image_size not in (256, 512):
            raise SystemExit(f"image size must be 256 or 512, got {image_size}")
        input_size, default_classes = image_size // VAE_DOWNSAMPLE, 1000
    return DiT(input_size=input_size, patch_size=patch, in_channels=LATENT_CHANNELS, hidden_size=hidden, depth=depth,
               num_heads=heads, num_classes=num_classes or default_classes, learn_sigma=True)


def parameter_count(model):
    # As DiT's train.py counts: every parameter, the frozen pos_embed included.
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for name in ("S/2", "B/2", "L/2", "XL/2"):
        print(f"DiT-{name} 256: {parameter_count(build(name)) / 1e6:.2f}M parameters")
