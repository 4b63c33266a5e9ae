#!/usr/bin/python3
"""Export a Stable Diffusion UNet (diffusers layout) or a random-init one to ONNX plus the TStitch model manifest.

  export_unet.py --config sd-v1 --checkpoint stable-diffusion-v1-4/unet/diffusion_pytorch_model.bin --out models --name sd-v14-unet
  export_unet.py --config bk-sdm-tiny --checkpoint bk-sdm-tiny/unet/diffusion_pytorch_model.bin --out models --name bk-sdm-tiny-unet
  export_unet.py --config tiny --random-init --seed 1 --out /tmp/fx --name unet-tiny --fixtures --save-state-dict /tmp/fx/unet-tiny.pt

Graph: sample [N,4,h,w] float32, timestep [N] int64, encoder_hidden_states [N,77,D] float32 -> out_sample
[N,4,h,w] (epsilon). Writes OUT/NAME.onnx (+ OUT/NAME.onnx.data above 2 GB), OUT/NAME.json and, with
--fixtures, OUT/NAME.fixtures/ (inputs and PyTorch's output for the C# parity tests).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import unet  # noqa: E402

FIXTURE_SEED = 2468  # fixture inputs do not depend on --seed, so a re-export of the same weights reproduces them
CONTEXT_TOKENS = 77  # CLIP's maxTokens: SD's UNet cross-attends to all 77 positions of last_hidden_state


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, choices=list(unet.CONFIGS))
    p.add_argument("--latent-size", type=int, help="latent height = width; default the config's sample size "
                   "(64 for sd-v1 / bk-sdm-tiny = 512 px images, 8 for the tiny configs)")
    common.add_common_args(p, "diffusers unet/diffusion_pytorch_model.bin (or a state dict with the same key names)",
                           "random weights (norms perturbed too)", "unet-<config>", "batch 3, three timesteps", "diffusers",
                           decoder=True)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(a.seed)
    model = unet.build(a.config)
    config_name = f"UNet {a.config}"
    if a.checkpoint:
        try:
            state = common.load_checkpoint(a.checkpoint)
        except common.CheckpointMismatch as e:
            common.refuse(str(e))
        try:
            common.load_into(model, state, config_name)
        except common.CheckpointMismatch as e:
            hint = ""
            if any(k.startswith("model.diffusion_model.") for k in state):
                hint = (" (this is an original CompVis/LDM checkpoint; use the diffusers folder's "
                        "unet/diffusion_pytorch_model.bin, or convert it to the diffusers layout first)")
            common.refuse(f"{a.checkpoint}: {e}{hint}")
        source = f"checkpoint {os.path.basename(a.checkpoint)}"
    else:
        unet.randomize(model)
        source = f"random init, seed {a.seed}"
    model.eval()

    h = a.latent_size or model.sample_size
    if h < model.downsampling or h % model.downsampling:
        common.refuse(f"--latent-size {h}: must be a multiple of {model.downsampling} for config '{a.config}' "
                      f"({len(model.block_out_channels) - 1} downsampling stages)")
    name = a.name or f"unet-{a.config}"
    common.prepare_output(model, a)

    count = unet.parameter_count(model)
    width = model.cross_attention_dim
    print(f"{config_name}: {count:,} parameters ({count / 1e6:.2f}M), latent 4x{h}x{h}, context {CONTEXT_TOKENS}x{width}, {source}")

    dummy = (torch.randn(2, 4, h, h), torch.tensor([10, 500], dtype=torch.int64), torch.randn(2, CONTEXT_TOKENS, width))
    onnx_name = name + ".onnx"
    onnx_path = os.path.join(a.out, onnx_name)
    start = time.time()
    data_name = common.export_onnx(model, dummy, ["sample", "timestep", "encoder_hidden_states"], ["out_sample"], onnx_path)
    print(f"wrote {onnx_path} ({common.onnx_size(onnx_path, data_name) / 2**20:.1f} MiB"
          f"{', weights in ' + data_name if data_name else ''}, opset {common.OPSET}) in {time.time() - start:.1f} s, "
          f"peak RSS {common.peak_rss_gib():.1f} GiB")

    manifest = {
        "name": name,
        "kind": "denoiser",
        "onnx": onnx_name,
        "io": {"latents": "sample", "timesteps": "timestep", "context": "encoder_hidden_states", "output": "out_sample"},
        "latentShape": [4, h, h],
        "prediction": "epsilon",
        "learnedSigma": False,
        # SD's betas: linspace(sqrt(0.00085), sqrt(0.012), 1000)^2; DDIM timesteps as diffusers' DDIMScheduler spaces
        # them for SD v1 ("leading", steps_offset 1, set_alpha_to_one false).
        "schedule": {"kind": "scaled-linear", "trainingSteps": 1000, "spacing": "leading"},
        "conditioning": {"kind": "text-embedding", "tokens": CONTEXT_TOKENS, "width": width},
        "timestepType": "int64",
        "architecture": config_name,
        "imageSize": h * unet.VAE_DOWNSAMPLE,
        "parameterCount": count,
        "opset": common.OPSET,
        "description": f"{config_name}, text-conditioned, latent 4x{h}x{h} ({source}), exported by tools/export/export_unet.py; "
                       f"decode with the SD VAE (latents x 1/0.18215).",
    }
    common.write_manifest(a.out, name, manifest, data_name, a.decoder)

    if a.fixtures:
        g = torch.Generator().manual_seed(FIXTURE_SEED)
        x = torch.randn(3, 4, h, h, generator=g)
        t = torch.tensor([999, 500, 1], dtype=torch.int64)
        context = torch.randn(3, CONTEXT_TOKENS, width, generator=g)
        with torch.no_grad():
            out = model(x, t, context)
        common.write_fixtures(os.path.join(a.out, name + ".fixtures"), f"../{name}.json",
                              [("sample", x), ("timestep", t), ("encoder_hidden_states", context)], [("out_sample", out)],
                              f"{config_name} PyTorch {torch.__version__} output for random latents and context")
        print(f"wrote fixtures to {os.path.join(a.out, name + '.fixtures')} (|out| max {out.abs().max():.3f})")


if __name__ == "__main__":
    main()
