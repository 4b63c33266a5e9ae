"""The decoder half of Stable Diffusion's AutoencoderKL, written for TStitch.

DiT samples in the latent space of the SD VAE (stabilityai/sd-vae-ft-ema / -ft-mse); serving needs
only latents -> pixels, so only `post_quant_conv` and `decoder.*` exist here. Parameter names follow
the diffusers weights (attention named `to_q/to_k/to_v/to_out.0`, diffusers >= 0.14);
`convert_legacy_keys` maps the older `query/key/value/proj_attn` names some published files still
carry. The encoder keys of a full VAE file are dropped by `decoder_state_dict`, not rejected.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # block_out_channels, layers_per_block, norm groups, latent channels
    "sd": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, groups=32, latent_channels=4),
    # For tests only: two levels (x2 upsampling), 8x8 latents -> 16x16 images.
    "tiny": dict(block_out_channels=(8, 16), layers_per_block=1, groups=4, latent_channels=4),
}
# SD's latents are scaled by this before diffusion; decoding divides by it first.
SCALE_FACTOR = 0.18215


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups, eps=1e-6):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        # A 1x1 projection only where the channel count changes, as in diffusers (use_in_shortcut).
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class AttentionBlock(nn.Module):
    """Single-head spatial self-attention with a group norm and a residual (the VAE's mid block)."""

    def __init__(self, channels, groups, eps=1e-6):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps, affine=True)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])
        self.scale = channels ** -0.5

    def forward(self, x):
        n, c, h, w = x.shape
        t = self.group_norm(x).reshape(n, c, h * w).transpose(1, 2)          # N, HW, C
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        attn = torch.softmax((q @ k.transpose(1, 2)) * self.scale, dim=-1)   # N, HW, HW
        out = self.to_out[0](attn @ v)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class MidBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups), ResnetBlock2D(channels, channels, groups)])
        self.attentions = nn.ModuleList([AttentionBlock(channels, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, upsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, groups) for j in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if upsample else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class Decoder(nn.Module):
    def __init__(self, block_out_channels, layers_per_block, groups, latent_channels, out_channels=3):
        super().__init__()
        top = block_out_channels[-1]
        self.conv_in = nn.Conv2d(latent_channels, top, 3, padding=1)
        self.mid_block = MidBlock(top, groups)
        reversed_channels = list(reversed(block_out_channels))
        blocks, prev = [], reversed_channels[0]
        for i, cout in enumerate(reversed_channels):
            # Every level but the last doubles the resolution; each has layers_per_block + 1 resnets.
            blocks.append(UpDecoderBlock2D(prev, cout, layers_per_block + 1, groups, upsample=i < len(reversed_channels) - 1))
            prev = cout
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(groups, block_out_channels[0], eps=1e-6)
        self.conv_out = nn.Conv2d(block_out_channels[0], out_channels, 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class VaeDecoder(nn.Module):
    """latents (raw, as the diffusion model samples them) -> image in [-1, 1].

    The 1/scale_factor scaling and the final clamp are inside the module, so the ONNX graph takes
    the denoiser's output as is (the manifest records scaleFactor and scaleInGraph=true)."""

    def __init__(self, block_out_channels, layers_per_block, groups, latent_channels, scale_factor=SCALE_FACTOR):
        super().__init__()
        self.scale_factor = scale_factor
        self.upsampling = 2 ** (len(block_out_channels) - 1)
        self.latent_channels = latent_channels
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = Decoder(block_out_channels, layers_per_block, groups, latent_channels)

    def forward(self, z):
        return self.decoder(self.post_quant_conv(z / self.scale_factor)).clamp(-1.0, 1.0)


def build(config):
    if config not in CONFIGS:
        raise SystemExit(f"unknown VAE config '{config}'; known: {', '.join(CONFIGS)}")
    return VaeDecoder(**CONFIGS[config])


LEGACY_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def convert_legacy_keys(state):
    """diffusers < 0.14 names of the mid-block attention -> current names; 1x1-conv shaped
    attention weights (original LDM layout) are squeezed to Linear weights."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if ".attentions." in key and len(parts) >= 2 and parts[-2] in LEGACY_ATTENTION:
            key = ".".join(parts[:-2] + [LEGACY_ATTENTION[parts[-2]], parts[-1]])
        if ".attentions." in key and key.endswith(".weight") and value.dim() == 4 and value.shape[2:] == (1, 1):
            value = value[:, :, 0, 0]
        out[key] = value
    return out


def decoder_state_dict(state):
    """Keep only what the decoder uses: a full AutoencoderKL file also holds encoder.* and quant_conv.*."""
    state = convert_legacy_keys(state)
    return {k: v for k, v in state.items() if k.startswith("decoder.") or k.startswith("post_quant_conv.")}


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    print(f"SD VAE decoder: {parameter_count(build('sd')) / 1e6:.2f}M parameters")
