#!/usr/bin/python3
"""Export the Stable Diffusion VAE decoder (latents -> image in [-1, 1]) to ONNX plus its manifest.

  export_vae.py --config sd --checkpoint sd-vae-ft-ema/diffusion_pytorch_model.bin --out models --name sd-vae
  export_vae.py --config tiny --random-init --seed 1 --out /tmp/fx --name vae-tiny --fixtures

The graph takes raw latents as the denoiser samples them: the 1/0.18215 scaling is inside it
(manifest: scaleFactor, scaleInGraph = true), and so is the clamp to [-1, 1].
Encoder weights in a full AutoencoderKL file are ignored; decoder keys must match exactly.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import vae  # noqa: E402

FIXTURE_SEED = 4321


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, choices=sorted(vae.CONFIGS))
    p.add_argument("--latent-size", type=int, help="latent height = width (default 32 for sd = 256 px images, 8 for tiny)")
    common.add_common_args(p, "diffusers diffusion_pytorch_model.bin or a state dict with decoder.*/post_quant_conv.* keys",
                           "random weights", "vae-<config>", "latents and decoded images", "diffusers")
    return p.parse_args(argv)


def randomize(model):
    # PyTorch's default init leaves every GroupNorm at scale 1, shift 0; perturb them so a parity
    # test also checks that the affine parameters are wired up.
    for m in model.modules():
        if isinstance(m, nn.GroupNorm):
            nn.init.normal_(m.weight, mean=1.0, std=0.1)
            nn.init.normal_(m.bias, std=0.1)


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(a.seed)
    model = vae.build(a.config)
    if a.checkpoint:
        try:
            common.load_into(model, vae.decoder_state_dict(common.load_checkpoint(a.checkpoint)), f"vae {a.config}")
        except common.CheckpointMismatch as e:
            common.refuse(f"{a.checkpoint}: {e}")
        source = f"checkpoint {os.path.basename(a.checkpoint)}"
    else:
        randomize(model)
        source = f"random init, seed {a.seed}"
    model.eval()

    name = a.name or f"vae-{a.config}"
    common.prepare_output(model, a)
    count = vae.parameter_count(model)
    c = model.latent_channels
    h = a.latent_size or (8 if a.config == "tiny" else 32)
    f = model.upsampling
    print(f"VAE decoder {a.config}: {count:,} parameters ({count / 1e6:.2f}M), latent {c}x{h}x{h} -> image 3x{h * f}x{h * f}, {source}")

    onnx_name = name + ".onnx"
    onnx_path = os.path.join(a.out, onnx_name)
    start = time.time()
    data_name = common.export_onnx(model, (torch.randn(2, c, h, h),), ["latents"], ["image"], onnx_path)
    print(f"wrote {onnx_path} ({common.onnx_size(onnx_path, data_name) / 2**20:.1f} MiB, opset {common.OPSET}) in {time.time() - start:.1f} s")

    manifest = {
        "name": name,
        "kind": "vae-decoder",
        "onnx": onnx_name,
        "io": {"latents": "latents", "output": "image"},
        "latentShape": [c, h, h],
        "imageShape": [3, h * f, h * f],
        "scaleFactor": model.scale_factor,
        # The graph divides by scaleFactor itself: feed it the denoiser's latents unchanged.
        "scaleInGraph": True,
        "outputRange": [-1.0, 1.0],
        "parameterCount": count,
        "opset": common.OPSET,
        "description": f"AutoencoderKL decoder, config {a.config} ({source}), exported by tools/export/export_vae.py.",
    }
    common.write_manifest(a.out, name, manifest, data_name)

    if a.fixtures:
        g = torch.Generator().manual_seed(FIXTURE_SEED)
        # Latents as a sampler leaves them (unit variance after scaling) times a spread of magnitudes.
        z = torch.randn(2, c, h, h, generator=g) * torch.tensor([0.5, 1.0]).view(2, 1, 1, 1)
        with torch.no_grad():
            image = model(z)
        clamped = (image.abs() >= 1.0).float().mean().item()
        common.write_fixtures(os.path.join(a.out, name + ".fixtures"), f"../{name}.json",
                              [("latents", z)], [("image", image)],
                              f"VAE decoder {a.config} PyTorch {torch.__version__} output ({clamped:.1%} of pixels at the clamp)")
        print(f"wrote fixtures to {os.path.join(a.out, name + '.fixtures')} ({clamped:.1%} of pixels clamped)")


if __name__ == "__main__":
    main()
