"""Stable Diffusion's text-conditioned UNet (diffusers' UNet2DConditionModel) written for TStitch.

Written from the architecture as published, not copied, and only the parts SD v1.x and BK-SDM use:
what matters for serving is that the parameter names and shapes are exactly those of diffusers'
`unet/diffusion_pytorch_model.bin`, so `load_state_dict(strict=True)` accepts a real checkpoint,
and that the forward pass computes the same function:

  conv_in, time_proj (sinusoidal, no parameters), time_embedding.linear_{1,2},
  down_blocks.{i}.resnets.{j}.{norm1,conv1,time_emb_proj,norm2,conv2[,conv_shortcut]},
  down_blocks.{i}.attentions.{j}.{norm,proj_in,transformer_blocks.0.{norm1,attn1,norm2,attn2,norm3,ff},proj_out},
  down_blocks.{i}.downsamplers.0.conv, mid_block.{resnets.0,attentions.0,resnets.1} (optional),
  up_blocks.{i}.{resnets,attentions,upsamplers.0.conv}, conv_norm_out, conv_out.

SD v1 specifics kept: proj_in/proj_out are 1x1 convolutions (use_linear_projection false),
attention projections to_q/to_k/to_v have no bias (to_out.0 has one), the feed-forward is GEGLU
(ff.net.0.proj -> 2 x 4D, exact GELU gate; ff.net.2 back to D), `attention_head_dim` 8 of the
diffusers config is the number of heads (head size = channels / 8), norms: GroupNorm eps 1e-5 in
the resnets and conv_norm_out, 1e-6 in the transformers' GroupNorm, LayerNorm eps 1e-5.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vae import Upsample2D  # noqa: E402  (diffusers' Upsample2D: the UNet and the VAE decoder share it)

LATENT_CHANNELS = 4
VAE_DOWNSAMPLE = 8

CROSS_DOWN, DOWN = "CrossAttnDownBlock2D", "DownBlock2D"
CROSS_UP, UP = "CrossAttnUpBlock2D", "UpBlock2D"

CONFIGS = {
    # Stable Diffusion v1.x (CompVis/stable-diffusion-v1-4, runwayml/stable-diffusion-v1-5 unet/config.json).
    "sd-v1": dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, heads=8,
                  down_block_types=(CROSS_DOWN, CROSS_DOWN, CROSS_DOWN, DOWN),
                  up_block_types=(UP, CROSS_UP, CROSS_UP, CROSS_UP), mid_block=True, norm_num_groups=32, sample_size=64),
    # BK-SDM-Tiny (Kim et al., "BK-SDM: A Lightweight, Fast, and Cheap Version of Stable Diffusion"), as in the
    # diffusers config Nota published with it (src/unet_config/bk_tiny/config.json, nota-ai/bk-sdm-tiny): one
    # resnet+attention per down stage, two per up stage (layers_per_block 1), no mid block, and the innermost
    # stages (the attention-free 1280-channel DownBlock2D / UpBlock2D) removed. Same names as SD v1, so it is
    # initialised from (and stitched with) SD v1.4.
    "bk-sdm-tiny": dict(block_out_channels=(320, 640, 1280), layers_per_block=1, cross_attention_dim=768, heads=8,
                        down_block_types=(CROSS_DOWN, CROSS_DOWN, CROSS_DOWN),
                        up_block_types=(CROSS_UP, CROSS_UP, CROSS_UP), mid_block=False, norm_num_groups=32, sample_size=64),
    # For tests only: SD v1's layout in miniature (cross-attention stages, an attention-free innermost stage, a mid
    # block), latent 4x8x8, context width 32 = the tiny CLIP's.
    "tiny": dict(block_out_channels=(32, 64, 64), layers_per_block=1, cross_attention_dim=32, heads=2,
                 down_block_types=(CROSS_DOWN, CROSS_DOWN, DOWN),
                 up_block_types=(UP, CROSS_UP, CROSS_UP), mid_block=True, norm_num_groups=8, sample_size=8),
    # The tiny pair's small model: "tiny" cut the way BK-SDM-Tiny cuts SD v1 (no mid block, innermost stage gone).
    "tiny-small": dict(block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32, heads=2,
                       down_block_types=(CROSS_DOWN, CROSS_DOWN),
                       up_block_types=(CROSS_UP, CROSS_UP), mid_block=False, norm_num_groups=8, sample_size=8),
}


def timestep_embedding(t, dim, max_period=10000):
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0 (SD v1's time_proj):
    frequencies exp(-ln(10000) i / (dim/2)), cos half first, then sin."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    args = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps=1e-5):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        # A 1x1 projection only where the channel count changes (diffusers' use_in_shortcut).
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h  # output_scale_factor 1


class Attention(nn.Module):
    """Multi-head attention over tokens; keys/values from `context` (cross) or the queries' own tokens (self)."""

    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        kv = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv, dim, bias=False)
        self.to_v = nn.Linear(kv, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, context=None):
        context = x if context is None else context
        n, tokens, dim = x.shape
        h = self.heads

        def split(t):  # N, T, D -> N, heads, T, D/heads
            return t.reshape(n, t.shape[1], h, dim // h).transpose(1, 2)

        q, k, v = split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context))
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(n, tokens, dim)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """GroupNorm, 1x1 conv in, one transformer block over the H*W tokens, 1x1 conv out, residual."""

    def __init__(self, channels, heads, context_dim, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, heads, context_dim)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        n, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x))
        h = h.permute(0, 2, 3, 1).reshape(n, hh * ww, c)
        for block in self.transformer_blocks:
            h = block(h, context)
        h = h.reshape(n, hh, ww, c).permute(0, 3, 1, 2)
        return self.proj_out(h) + x


class Downsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)  # downsample_padding 1

    def forward(self, x):
        return self.conv(x)


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (attention after every resnet) or DownBlock2D (resnets only)."""

    def __init__(self, cin, cout, temb, layers, cross, heads, context_dim, groups, downsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, temb, groups) for j in range(layers)])
        self.attentions = nn.ModuleList([Transformer2DModel(cout, heads, context_dim, groups) for _ in range(layers)]) if cross else None
        self.downsamplers = nn.ModuleList([Downsample2D(cout)]) if downsample else None

    def forward(self, x, emb, context):
        skips = []
        for j, resnet in enumerate(self.resnets):
            x = resnet(x, emb)
            if self.attentions is not None:
                x = self.attentions[j](x, context)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D / UpBlock2D: each resnet takes the running tensor concatenated with one skip."""

    def __init__(self, prev, cout, skip_channels, temb, cross, heads, context_dim, groups, upsample):
        super().__init__()
        resnets, cin = [], prev
        for skip in skip_channels:
            resnets.append(ResnetBlock2D(cin + skip, cout, temb, groups))
            cin = cout
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([Transformer2DModel(cout, heads, context_dim, groups) for _ in skip_channels]) if cross else None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if upsample else None

    def forward(self, x, skips, emb, context):
        for j, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), emb)
            if self.attentions is not None:
                x = self.attentions[j](x, context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class MidBlock(nn.Module):
    """UNetMidBlock2DCrossAttn: resnet, transformer, resnet."""

    def __init__(self, channels, temb, heads, context_dim, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb, groups), ResnetBlock2D(channels, channels, temb, groups)])
        self.attentions = nn.ModuleList([Transformer2DModel(channels, heads, context_dim, groups)])

    def forward(self, x, emb, context):
        return self.resnets[1](self.attentions[0](self.resnets[0](x, emb), context), emb)


class UNet2DConditionModel(nn.Module):
    """(sample [N,4,h,w], timestep [N], encoder_hidden_states [N,L,D]) -> epsilon [N,4,h,w]."""

    def __init__(self, block_out_channels, layers_per_block, cross_attention_dim, heads, down_block_types,
                 up_block_types, mid_block, norm_num_groups, sample_size, in_channels=LATENT_CHANNELS,
                 out_channels=LATENT_CHANNELS):
        super().__init__()
        assert len(down_block_types) == len(up_block_types) == len(block_out_channels)
        self.sample_size = sample_size
        self.in_channels = in_channels
        self.cross_attention_dim = cross_attention_dim
        self.block_out_channels = tuple(block_out_channels)
        # Every stage but the last halves the resolution.
        self.downsampling = 2 ** (len(block_out_channels) - 1)
        first, temb = block_out_channels[0], block_out_channels[0] * 4
        self.conv_in = nn.Conv2d(in_channels, first, 3, padding=1)
        self.time_embedding = TimestepEmbedding(first, temb)

        g = dict(heads=heads, context_dim=cross_attention_dim, groups=norm_num_groups)
        down, skip_channels, prev = [], [first], first
        for i, (kind, cout) in enumerate(zip(down_block_types, block_out_channels)):
            last = i == len(block_out_channels) - 1
            down.append(DownBlock(prev, cout, temb, layers_per_block, kind == CROSS_DOWN, downsample=not last, **g))
            skip_channels += [cout] * layers_per_block + ([] if last else [cout])
            prev = cout
        self.down_blocks = nn.ModuleList(down)
        self.mid_block = MidBlock(prev, temb, **g) if mid_block else None

        up = []
        for i, (kind, cout) in enumerate(zip(up_block_types, reversed(block_out_channels))):
            # layers_per_block + 1 resnets, each consuming the most recent skip left.
            mine = [skip_channels.pop() for _ in range(layers_per_block + 1)]
            up.append(UpBlock(prev, cout, mine, temb, kind == CROSS_UP, upsample=i < len(block_out_channels) - 1, **g))
            prev = cout
        assert not skip_channels
        self.up_blocks = nn.ModuleList(up)
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, first, eps=1e-5)
        self.conv_out = nn.Conv2d(first, out_channels, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        emb = self.time_embedding(timestep_embedding(timestep, self.block_out_channels[0]))
        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, more = block(x, emb, encoder_hidden_states)
            skips += more
        if self.mid_block is not None:
            x = self.mid_block(x, emb, encoder_hidden_states)
        for block in self.up_blocks:
            x = block(x, skips, emb, encoder_hidden_states)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


def build(config):
    if config not in CONFIGS:
        raise SystemExit(f"unknown UNet config '{config}'; known: {', '.join(CONFIGS)}")
    return UNet2DConditionModel(**CONFIGS[config])


def randomize(model):
    """PyTorch's default init leaves every norm at scale 1, shift 0; perturb them so a parity test also checks
    that the affine parameters are wired up."""
    for m in model.modules():
        if isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
            nn.init.normal_(m.weight, mean=1.0, std=0.1)
            nn.init.normal_(m.bias, std=0.1)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for name in CONFIGS:
        model = build(name)
        s = model.sample_size
        print(f"UNet {name}: {parameter_count(model):,} parameters ({parameter_count(model) / 1e6:.2f}M), "
              f"latent 4x{s}x{s}, context width {model.cross_attention_dim}")
