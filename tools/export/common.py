"""What the exporters (export_dit.py, export_vae.py, export_unet.py, export_text_encoder.py) share: checkpoint loading with a strict pre-check, ONNX
export (external data above protobuf's 2 GB limit), manifests and parity fixtures."""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

# torch 1.13's exporter goes up to opset 17 (LayerNormalization); older exporters fall back to the
# highest they know.
try:
    from torch.onnx._constants import ONNX_MAX_OPSET as _MAX_OPSET
except ImportError:  # pragma: no cover - other torch layouts
    _MAX_OPSET = 17
OPSET = min(17, _MAX_OPSET)

# Protobuf cannot serialise a message over 2 GB; stay clear of it.
EXTERNAL_DATA_THRESHOLD = 1800 * 1024 * 1024


class CheckpointMismatch(Exception):
    pass


def load_checkpoint(path):
    """A state dict from a raw state dict file or a training checkpoint ({"ema": ..., "model": ...}:
    the EMA weights are the ones DiT samples with, so they win)."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict):
        for key in ("ema", "model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatch(f"{path}: not a state dict (expected a dict of tensors, or one under 'ema'/'model')")
    # DistributedDataParallel saves every key under "module."
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def check_state_dict(model, state, config_name):
    """Refuse a checkpoint that does not fit the config before load_state_dict, naming the first
    mismatching key (in the model's parameter order: missing or wrong shape; then unexpected keys)."""
    expected = model.state_dict()
    problems = []
    for key, tensor in expected.items():
        if key not in state:
            problems.append(f"missing key '{key}' (expected shape {list(tensor.shape)})")
        elif tuple(state[key].shape) != tuple(tensor.shape):
            problems.append(f"wrong shape for key '{key}': checkpoint {list(state[key].shape)}, config {list(tensor.shape)}")
    for key in state:
        if key not in expected:
            problems.append(f"unexpected key '{key}' (shape {list(state[key].shape)})")
    if problems:
        more = f"; {len(problems) - 1} more mismatch(es), e.g. {problems[1]}" if len(problems) > 1 else ""
        raise CheckpointMismatch(f"checkpoint does not match config '{config_name}': {problems[0]}{more}")


def load_into(model, state, config_name):
    check_state_dict(model, state, config_name)
    model.load_state_dict(state, strict=True)


def refuse(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def export_onnx(model, args, input_names, output_names, out_path):
    """torch.onnx.export with a dynamic batch axis. Exports into a scratch folder first: above 2 GB
    torch writes one file per tensor, which is consolidated here into <name>.onnx.data."""
    dynamic = {n: {0: "N"} for n in input_names + output_names}
    scratch = tempfile.mkdtemp(prefix="tstitch-export-", dir=os.path.dirname(os.path.abspath(out_path)))
    try:
        tmp = os.path.join(scratch, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(model, args, tmp, input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True)
        import onnx
        proto = onnx.load(tmp)  # pulls in external tensors, if torch wrote any
        data_name = os.path.basename(out_path) + ".data"
        data_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), data_name)
        weight_bytes = sum(t.ByteSize() for t in proto.graph.initializer)
        if os.path.exists(data_path):
            os.remove(data_path)
        if weight_bytes > EXTERNAL_DATA_THRESHOLD:
            onnx.save_model(proto, out_path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=1024)
            onnx.checker.check_model(out_path)
            return data_name
        onnx.save_model(proto, out_path)
        onnx.checker.check_model(proto)
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def onnx_size(out_path, data_name):
    size = os.path.getsize(out_path)
    if data_name:
        size += os.path.getsize(os.path.join(os.path.dirname(os.path.abspath(out_path)), data_name))
    return size


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def add_common_args(p, checkpoint_help, random_help, name_default, fixtures_help, key_names, decoder=False):
    """The options every exporter shares: where the weights come from, where the export goes, fixtures,
    the state dict, and for denoisers the decoder their manifest names."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help=checkpoint_help)
    src.add_argument("--random-init", action="store_true", help=random_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--name", help=f"model name (file stem); default {name_default}")
    p.add_argument("--fixtures", action="store_true", help=f"also write parity fixtures ({fixtures_help})")
    if decoder:
        p.add_argument("--decoder", metavar="FILE", help="decoder manifest (export_vae.py) the replica loads to decode this model's "
                       "latents, relative to the model's manifest, e.g. sd-vae.json; recorded as \"decoder\" in the manifest")
    p.add_argument("--save-state-dict", metavar="FILE", help=f"save the model's state dict ({key_names} key names)")


def prepare_output(model, a):
    """Creates the output folder and saves the state dict when asked (what the tests load back strictly)."""
    os.makedirs(a.out, exist_ok=True)
    if a.save_state_dict:
        torch.save(model.state_dict(), a.save_state_dict)


def write_manifest(out, name, manifest, data_name, decoder=None):
    """OUT/NAME.json, naming the external weights file (above 2 GB) and, for denoisers, the decoder
    manifest the replica loads (relative to this one; a note if it is not there yet)."""
    if decoder:
        manifest["decoder"] = decoder
        if not os.path.exists(os.path.join(out, decoder)):
            print(f"note: decoder {decoder} is not in {out} yet; the replica refuses to start until it is", file=sys.stderr)
    if data_name:
        manifest["externalData"] = data_name
    write_json(os.path.join(out, name + ".json"), manifest)


def write_fixtures(folder, model_manifest, inputs, outputs, note, extra=None):
    """Raw little-endian tensors plus fixtures.json naming each one's file, dtype and shape; `extra` adds
    top-level fields (what a reader needs to know beyond the tensors, e.g. the prompts behind token ids)."""
    os.makedirs(folder, exist_ok=True)

    def entry(name, tensor):
        array = tensor.detach().cpu().numpy()
        dtype = {np.dtype("float32"): "<f4", np.dtype("int64"): "<i8"}[array.dtype]
        file = f"{name}.bin"
        np.ascontiguousarray(array).astype(dtype).tofile(os.path.join(folder, file))
        return {"name": name, "file": file, "dtype": str(array.dtype), "shape": list(array.shape)}

    write_json(os.path.join(folder, "fixtures.json"), {
        "manifest": model_manifest,
        "note": note,
        **(extra or {}),
        "inputs": [entry(n, t) for n, t in inputs],
        "outputs": [entry(n, t) for n, t in outputs],
    })


def peak_rss_gib():
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
