#!/usr/bin/python3
"""Export a DiT checkpoint (or a random-init DiT) to ONNX plus the TStitch model manifest.

  export_dit.py --config XL/2 --image-size 256 --checkpoint DiT-XL-2-256x256.pt --out models --name dit-xl
  export_dit.py --config tiny --random-init --seed 1 --out /tmp/fx --name dit-tiny --fixtures --save-state-dict /tmp/fx/dit-tiny.pt

Writes OUT/NAME.onnx (+ OUT/NAME.onnx.data above 2 GB), OUT/NAME.json and, with --fixtures,
OUT/NAME.fixtures/ (inputs and PyTorch's output for the C# parity tests).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import dit  # noqa: E402

FIXTURE_SEED = 1234  # fixture inputs do not depend on --seed, so a re-export of the same weights reproduces them


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="tiny | tiny-1 | S/2 | B/2 | L/2 | XL/2 (also /4, /8)")
    p.add_argument("--image-size", type=int, default=256, choices=(256, 512), help="ignored for tiny (latent 4x8x8)")
    p.add_argument("--num-classes", type=int, help="default 1000 (10 for tiny)")
    p.add_argument("--timestep-type", default="int64", choices=("int64", "float32"))
    common.add_common_args(p, "state dict or training checkpoint (.pt) with the published DiT key names",
                           "random weights (adaLN/output layers not zeroed)", "dit-<config>-<size>",
                           "batch 3, one null-class row", "published", decoder=True)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(a.seed)
    model = dit.build(a.config, a.image_size, a.num_classes)
    if a.checkpoint:
        try:
            common.load_into(model, common.load_checkpoint(a.checkpoint), f"DiT-{a.config}" + ("" if a.config.startswith("tiny") else f" {a.image_size}"))
        except common.CheckpointMismatch as e:
            common.refuse(f"{a.checkpoint}: {e}")
        source = f"checkpoint {os.path.basename(a.checkpoint)}"
    else:
        model.initialize_weights(zero_init=False)
        source = f"random init, seed {a.seed}"
    model.eval()

    size = model.input_size * dit.VAE_DOWNSAMPLE
    name = a.name or (f"dit-{a.config}" if a.config.startswith("tiny") else f"dit-{a.config.lower().replace('/', '')}-{size}")
    common.prepare_output(model, a)

    count = dit.parameter_count(model)
    print(f"DiT-{a.config}: {count:,} parameters ({count / 1e6:.2f}M), latent 4x{model.input_size}x{model.input_size}, "
          f"{model.num_classes} classes, {source}")

    h = model.input_size
    t_dtype = torch.int64 if a.timestep_type == "int64" else torch.float32
    dummy = (torch.randn(2, 4, h, h), torch.tensor([10, 500], dtype=t_dtype), torch.tensor([0, model.num_classes]))
    onnx_name = name + ".onnx"
    onnx_path = os.path.join(a.out, onnx_name)
    start = time.time()
    data_name = common.export_onnx(model, dummy, ["x", "t", "y"], ["out"], onnx_path)
    print(f"wrote {onnx_path} ({common.onnx_size(onnx_path, data_name) / 2**20:.1f} MiB"
          f"{', weights in ' + data_name if data_name else ''}, opset {common.OPSET}) in {time.time() - start:.1f} s")

    manifest = {
        "name": name,
        "kind": "denoiser",
        "onnx": onnx_name,
        "io": {"latents": "x", "timesteps": "t", "classLabels": "y", "output": "out"},
        "latentShape": [4, h, h],
        "prediction": "epsilon",
        "learnedSigma": True,
        "schedule": {"kind": "linear", "trainingSteps": 1000},
        "numClasses": model.num_classes,
        "nullClassId": model.num_classes,
        "timestepType": a.timestep_type,
        "conditioning": {"kind": "class-label", "numClasses": model.num_classes, "nullClassId": model.num_classes},
        "architecture": f"DiT-{a.config}",
        "imageSize": size,
        "parameterCount": count,
        "opset": common.OPSET,
        "description": f"DiT-{a.config} {size}x{size} ({source}), exported by tools/export/export_dit.py; "
                       f"decode with the SD VAE (latents x 1/0.18215).",
    }
    common.write_manifest(a.out, name, manifest, data_name, a.decoder)

    if a.fixtures:
        g = torch.Generator().manual_seed(FIXTURE_SEED)
        x = torch.randn(3, 4, h, h, generator=g)
        t = torch.tensor([999, 500, 17], dtype=t_dtype)
        y = torch.tensor([1, 7 % model.num_classes, model.num_classes])  # last row: the null class
        with torch.no_grad():
            out = model(x, t, y)
        common.write_fixtures(os.path.join(a.out, name + ".fixtures"), f"../{name}.json",
                              [("x", x), ("t", t), ("y", y)], [("out", out)],
                              f"DiT-{a.config} PyTorch {torch.__version__} output, all {model.out_channels} channels")
        print(f"wrote fixtures to {os.path.join(a.out, name + '.fixtures')} (|out| max {out.abs().max():.3f})")


if __name__ == "__main__":
    main()
