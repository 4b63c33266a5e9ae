#!/usr/bin/python3
"""Export CLIP's text encoder (SD v1's text_encoder) to ONNX plus its manifest and tokenizer files.

  export_text_encoder.py --config vit-l-14 --checkpoint stable-diffusion-v1-4/text_encoder/pytorch_model.bin \\
      --tokenizer-dir stable-diffusion-v1-4/tokenizer --out models --name clip
  export_text_encoder.py --config tiny --random-init --seed 1 --out /tmp/fx --name clip-tiny --fixtures

Graph: input_ids [N,77] int64 -> last_hidden_state [N,77,D] float32. Writes OUT/NAME.onnx, OUT/NAME.json,
OUT/NAME.vocab.json + OUT/NAME.merges.txt (copied from --tokenizer-dir, which holds CLIP's vocab.json and
merges.txt) and, with --fixtures, OUT/NAME.fixtures/. With --random-init and no --tokenizer-dir a small
CLIP-format test vocabulary is written instead (see clip_vocab.py), and the tiny config's vocabulary is
sized to it.
"""
import argparse
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_text  # noqa: E402
import clip_vocab  # noqa: E402
import common  # noqa: E402

FIXTURE_PROMPTS = ("a photo of a cat", "An astronaut riding a horse on Mars!")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, choices=list(clip_text.CONFIGS))
    p.add_argument("--tokenizer-dir", metavar="DIR", help="folder with CLIP's vocab.json and merges.txt (SD's tokenizer/); "
                   "required with --checkpoint")
    common.add_common_args(p, "transformers CLIPTextModel (or CLIPModel) pytorch_model.bin", "random weights", "clip-<config>",
                           "two tokenized prompts", "transformers")
    return p.parse_args(argv)


def load_tokenizer(a):
    """(vocab, merges, source folder or None for the generated test vocabulary)."""
    if a.tokenizer_dir:
        paths = [os.path.join(a.tokenizer_dir, f) for f in ("vocab.json", "merges.txt")]
        for path in paths:
            if not os.path.isfile(path):
                common.refuse(f"--tokenizer-dir {a.tokenizer_dir}: no {os.path.basename(path)} (expected CLIP's vocab.json and merges.txt)")
        try:
            vocab, merges = clip_vocab.read(*paths)
        except (ValueError, UnicodeDecodeError) as e:
            common.refuse(f"--tokenizer-dir {a.tokenizer_dir}: {e}")
        for token in (clip_vocab.START, clip_vocab.END):
            if token not in vocab:
                common.refuse(f"--tokenizer-dir {a.tokenizer_dir}: vocab.json has no {token}")
        return vocab, merges, a.tokenizer_dir
    if a.checkpoint:
        common.refuse("--tokenizer-dir is required with --checkpoint: the tokenizer the encoder was trained with "
                      "(SD's tokenizer/ folder, next to text_encoder/)")
    merges = clip_vocab.test_merges()
    return clip_vocab.vocab_from_merges(merges), merges, None


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(a.seed)
    vocab, merges, tokenizer_source = load_tokenizer(a)
    token_count = max(vocab.values()) + 1
    # The tiny config takes its tokenizer's size; vit-l-14 is CLIP's 49408 whatever the tokenizer (a smaller
    # test vocabulary only uses the first ids).
    model = clip_text.build(a.config, token_count if a.config == "tiny" else None)
    if token_count > model.vocab_size:
        common.refuse(f"the tokenizer has ids up to {token_count - 1}, but config '{a.config}' embeds {model.vocab_size} tokens")
    config_name = f"CLIP text {a.config}"
    if a.checkpoint:
        try:
            common.load_into(model, clip_text.checkpoint_state_dict(common.load_checkpoint(a.checkpoint)), config_name)
        except common.CheckpointMismatch as e:
            common.refuse(f"{a.checkpoint}: {e}")
        source = f"checkpoint {os.path.basename(a.checkpoint)}"
    else:
        clip_text.randomize(model)
        source = f"random init, seed {a.seed}"
    model.eval()

    name = a.name or f"clip-{a.config}"
    common.prepare_output(model, a)
    count = clip_text.parameter_count(model)
    tokens = model.max_positions
    print(f"{config_name}: {count:,} parameters ({count / 1e6:.2f}M), width {model.width}, {tokens} tokens, "
          f"vocabulary {model.vocab_size} (tokenizer {token_count}), {source}")

    # The tokenizer files travel with the model, renamed after it.
    vocab_name, merges_name = f"{name}.vocab.json", f"{name}.merges.txt"
    if tokenizer_source:
        shutil.copyfile(os.path.join(tokenizer_source, "vocab.json"), os.path.join(a.out, vocab_name))
        shutil.copyfile(os.path.join(tokenizer_source, "merges.txt"), os.path.join(a.out, merges_name))
    else:
        clip_vocab.write(a.out, name, merges)

    onnx_name = name + ".onnx"
    onnx_path = os.path.join(a.out, onnx_name)
    dummy = torch.full((2, tokens), vocab[clip_vocab.END], dtype=torch.int64)
    dummy[:, 0] = vocab[clip_vocab.START]
    start = time.time()
    data_name = common.export_onnx(model, (dummy,), ["input_ids"], ["last_hidden_state"], onnx_path)
    print(f"wrote {onnx_path} ({common.onnx_size(onnx_path, data_name) / 2**20:.1f} MiB, opset {common.OPSET}) in "
          f"{time.time() - start:.1f} s, peak RSS {common.peak_rss_gib():.1f} GiB")

    manifest = {
        "name": name,
        "kind": "text-encoder",
        "onnx": onnx_name,
        "io": {"tokens": "input_ids", "output": "last_hidden_state"},
        "vocab": vocab_name,
        "merges": merges_name,
        "maxTokens": tokens,
        "width": model.width,
        "startToken": clip_vocab.START,
        "endToken": clip_vocab.END,
        # SD v1 pads with <|endoftext|> (openai/clip-vit-large-patch14's pad_token).
        "padToken": clip_vocab.END,
        "architecture": config_name,
        "parameterCount": count,
        "opset": common.OPSET,
        "description": f"{config_name} ({source}), tokenizer "
                       f"{'from ' + os.path.basename(os.path.normpath(tokenizer_source)) if tokenizer_source else 'generated test vocabulary'}, "
                       f"exported by tools/export/export_text_encoder.py; output last_hidden_state (SD v1's conditioning).",
    }
    common.write_manifest(a.out, name, manifest, data_name)

    if a.fixtures:
        bpe = clip_vocab.Bpe(merges)
        rows = [bpe.row(p, tokens) for p in FIXTURE_PROMPTS]
        ids = torch.tensor(rows, dtype=torch.int64)
        with torch.no_grad():
            out = model(ids)
        common.write_fixtures(os.path.join(a.out, name + ".fixtures"), f"../{name}.json",
                              [("input_ids", ids)], [("last_hidden_state", out)],
                              f"{config_name} PyTorch {torch.__version__} output; input_ids are the prompts tokenized by "
                              f"clip_vocab.py (start, BPE ids, end, end-padding to {tokens})",
                              extra={"prompts": list(FIXTURE_PROMPTS)})
        print(f"wrote fixtures to {os.path.join(a.out, name + '.fixtures')} (|out| max {out.abs().max():.3f})")


if __name__ == "__main__":
    main()
