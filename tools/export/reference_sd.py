#!/usr/bin/python3
"""A stitched text-to-image run in PyTorch, written down step by step as a fixture for the C# sampler.

  reference_sd.py --dir DIR            (after make_fixtures.sh has exported clip-tiny, unet-tiny-small, unet-tiny)

Follows diffusers' StableDiffusionPipeline + DDIMScheduler as SD v1 configures them, formula by formula:
  betas = linspace(0.00085**0.5, 0.012**0.5, 1000, float32)**2, alphas_cumprod = cumprod(1 - betas) (float32);
  timesteps for S steps ("leading", steps_offset 1): (arange(S) * (1000 // S))[::-1] + 1;
  guidance: the batch is [cond; uncond] (TStitch's order; diffusers uses [uncond; cond], rows are independent),
  eps = uncond + s * (cond - uncond);
  DDIM step (eta 0, epsilon prediction, no clipping): prev_t = t - 1000 // S,
  a_t = alphas_cumprod[t], a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else alphas_cumprod[0] (set_alpha_to_one false),
  x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t), x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps.
x_T ~ N(0, 1) from a fixed seed (DDIM's init_noise_sigma is 1). T-Stitch: the first --small-steps steps run on the
small UNet, the rest on the large one. Conditioning: the prompts (and the empty negative prompt) tokenized by
clip_vocab.py and encoded by the exported text encoder's PyTorch weights.

Writes DIR/NAME.fixtures/ (fixtures.json + raw tensors): inputs x_T, cond/uncond ids and embeddings; outputs every
step's timestep, guided eps and latents, the final latents and alphas_cumprod.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_text  # noqa: E402
import clip_vocab  # noqa: E402
import common  # noqa: E402
import unet  # noqa: E402

PROMPTS = ("a photo of a cat", "a red car in the snow")
NEGATIVE = ""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True, help="folder with the exported models and their state dicts (NAME.json + NAME.pt)")
    p.add_argument("--small", default="unet-tiny-small")
    p.add_argument("--large", default="unet-tiny")
    p.add_argument("--text-encoder", default="clip-tiny")
    p.add_argument("--name", default="sd-reference")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--small-steps", type=int, default=3, help="steps run on the small UNet, from the first")
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=7, help="seed of x_T")
    return p.parse_args(argv)


def manifest(folder, name):
    with open(os.path.join(folder, name + ".json")) as f:
        return json.load(f)


def config_of(m, prefix):
    # The exporters record "architecture" as "<prefix> <config>".
    arch = m["architecture"]
    if not arch.startswith(prefix + " "):
        raise SystemExit(f"{m['name']}: architecture '{arch}' is not a {prefix}")
    return arch[len(prefix) + 1:]


def load_unet(folder, name):
    model = unet.build(config_of(manifest(folder, name), "UNet"))
    common.load_into(model, common.load_checkpoint(os.path.join(folder, name + ".pt")), name)
    return model.eval()


def scaled_linear_alphas_cumprod(training_steps=1000):
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, training_steps, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def leading_timesteps(steps, training_steps=1000):
    ratio = training_steps // steps
    return (torch.arange(steps, dtype=torch.int64) * ratio).flip(0) + 1


def ddim_step(eps, t, x, alphas_cumprod, steps, training_steps=1000):
    prev_t = t - training_steps // steps
    a_t = alphas_cumprod[t]
    a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else alphas_cumprod[0]
    beta_t = 1 - a_t
    x0 = (x - beta_t ** 0.5 * eps) / a_t ** 0.5
    return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def main(argv=None):
    a = parse_args(argv)
    if not 0 <= a.small_steps <= a.steps:
        raise SystemExit(f"--small-steps must be in [0, {a.steps}]")
    small, large = load_unet(a.dir, a.small), load_unet(a.dir, a.large)
    te = manifest(a.dir, a.text_encoder)
    vocab, merges = clip_vocab.read(os.path.join(a.dir, te["vocab"]), os.path.join(a.dir, te["merges"]))
    encoder = clip_text.build(config_of(te, "CLIP text"), max(vocab.values()) + 1)
    common.load_into(encoder, common.load_checkpoint(os.path.join(a.dir, a.text_encoder + ".pt")), a.text_encoder)
    encoder.eval()

    bpe = clip_vocab.Bpe(merges)
    cond_ids = torch.tensor([bpe.row(p, te["maxTokens"]) for p in PROMPTS], dtype=torch.int64)
    uncond_ids = torch.tensor([bpe.row(NEGATIVE, te["maxTokens"])] * len(PROMPTS), dtype=torch.int64)
    h = manifest(a.dir, a.large)["latentShape"]
    x_t = torch.randn(len(PROMPTS), *h, generator=torch.Generator().manual_seed(a.seed))

    alphas_cumprod = scaled_linear_alphas_cumprod()
    timesteps = leading_timesteps(a.steps)
    eps_steps, latents_steps = [], []
    with torch.no_grad():
        cond, uncond = encoder(cond_ids), encoder(uncond_ids)
        x = x_t
        for i, t in enumerate(timesteps.tolist()):
            model = small if i < a.small_steps else large
            both = model(torch.cat([x, x]), torch.full((2 * len(PROMPTS),), t, dtype=torch.int64), torch.cat([cond, uncond]))
            c, u = both.chunk(2)
            eps = u + a.guidance * (c - u)
            x = ddim_step(eps, t, x, alphas_cumprod, a.steps)
            eps_steps.append(eps)
            latents_steps.append(x)

    folder = os.path.join(a.dir, a.name + ".fixtures")
    common.write_fixtures(
        folder, f"../{a.large}.json",
        [("x_T", x_t), ("cond_ids", cond_ids), ("uncond_ids", uncond_ids), ("cond", cond), ("uncond", uncond)],
        [("timesteps", timesteps), ("eps", torch.stack(eps_steps)), ("step_latents", torch.stack(latents_steps)),
         ("latents", x), ("alphas_cumprod", alphas_cumprod)],
        f"Stitched DDIM run in PyTorch {torch.__version__} following diffusers' DDIMScheduler (eta 0, leading spacing, "
        f"steps_offset 1, set_alpha_to_one false) and SD's CFG; see tools/export/reference_sd.py",
        extra={
            "small": f"../{a.small}.json", "large": f"../{a.large}.json", "textEncoder": f"../{a.text_encoder}.json",
            "steps": a.steps, "smallSteps": a.small_steps, "guidanceScale": a.guidance, "seed": a.seed,
            "prompts": list(PROMPTS), "negativePrompt": NEGATIVE, "sampler": "ddim", "eta": 0.0,
            "guidanceBatch": "[cond; uncond]", "alphasCumprodDtype": "float32", "finalAlphaCumprod": "alphas_cumprod[0]",
        })
    print(f"wrote {folder}: {a.steps} DDIM steps ({a.small_steps} on {a.small}, {a.steps - a.small_steps} on {a.large}), "
          f"timesteps {timesteps.tolist()}, guidance {a.guidance}, |x_0| max {x.abs().max():.3f}")


if __name__ == "__main__":
    main()
