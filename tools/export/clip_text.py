"""CLIP's text encoder (transformers' CLIPTextModel, as Stable Diffusion v1 uses it) written for TStitch.

Written from the architecture as published, not copied. Parameter names and shapes are those of
transformers' CLIPTextModel (SD's `text_encoder/pytorch_model.bin`), so a real checkpoint loads strictly:

  text_model.embeddings.{token_embedding,position_embedding},
  text_model.encoder.layers.{i}.{self_attn.{q,k,v,out}_proj,layer_norm1,mlp.fc1,mlp.fc2,layer_norm2},
  text_model.final_layer_norm.

Forward: token + position embeddings, pre-norm transformer layers with a causal mask and quick_gelu
(x * sigmoid(1.702 x)), final layer norm; the output is last_hidden_state [N, 77, D], what SD's UNet
cross-attends to. No attention mask: SD v1 pads with <|endoftext|> and lets the causal mask do the rest.

`text_model.embeddings.position_ids` (a constant arange(77) that older transformers versions saved as a
persistent buffer, so SD v1.4's file has it) is not a parameter here: `checkpoint_state_dict` drops it,
and a full CLIPModel file's vision tower and projections too.
"""
import torch
import torch.nn as nn

CONFIGS = {
    # openai/clip-vit-large-patch14's text model = SD v1's text_encoder.
    "vit-l-14": dict(width=768, layers=12, heads=12, vocab_size=49408, max_positions=77),
    # For tests only; vocab_size is set to the test tokenizer's size by the exporter.
    "tiny": dict(width=32, layers=2, heads=2, vocab_size=None, max_positions=77),
}

# Keys a CLIP checkpoint may hold that the text encoder does not use.
IGNORED_PREFIXES = ("vision_model.", "visual_projection.", "text_projection.", "logit_scale")
IGNORED_KEYS = ("text_model.embeddings.position_ids",)


class ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask):
        n, tokens, width = x.shape

        def split(t):
            return t.reshape(n, tokens, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        attn = torch.softmax(q @ k.transpose(-2, -1) + mask, dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(n, tokens, width))


class ClipMlp(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width * 4)
        self.fc2 = nn.Linear(width * 4, width)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu


class ClipEncoderLayer(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.self_attn = ClipAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width)
        self.mlp = ClipMlp(width)
        self.layer_norm2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab_size, width, max_positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(max_positions, width)

    def forward(self, input_ids):
        return self.token_embedding(input_ids) + self.position_embedding.weight[: input_ids.shape[1]].unsqueeze(0)


class ClipEncoder(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.layers = nn.ModuleList([ClipEncoderLayer(width, heads) for _ in range(layers)])


class ClipTextTransformer(nn.Module):
    def __init__(self, vocab_size, width, layers, heads, max_positions):
        super().__init__()
        self.embeddings = ClipEmbeddings(vocab_size, width, max_positions)
        self.encoder = ClipEncoder(width, layers, heads)
        self.final_layer_norm = nn.LayerNorm(width)
        # Causal: token i attends to tokens 0..i. The most negative float32 rather than -inf, as transformers does.
        mask = torch.full((max_positions, max_positions), torch.finfo(torch.float32).min).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, input_ids):
        tokens = input_ids.shape[1]
        x = self.embeddings(input_ids)
        mask = self.causal_mask[:tokens, :tokens]
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class ClipTextModel(nn.Module):
    """input_ids [N, 77] int64 -> last_hidden_state [N, 77, width]."""

    def __init__(self, vocab_size, width, layers, heads, max_positions):
        super().__init__()
        self.vocab_size, self.width, self.max_positions = vocab_size, width, max_positions
        self.text_model = ClipTextTransformer(vocab_size, width, layers, heads, max_positions)

    def forward(self, input_ids):
        return self.text_model(input_ids)


def build(config, vocab_size=None):
    if config not in CONFIGS:
        raise SystemExit(f"unknown text encoder config '{config}'; known: {', '.join(CONFIGS)}")
    c = dict(CONFIGS[config])
    c["vocab_size"] = vocab_size or c["vocab_size"]
    if not c["vocab_size"]:
        raise SystemExit(f"text encoder config '{config}' needs a vocabulary size (its tokenizer's)")
    return ClipTextModel(**c)


def checkpoint_state_dict(state):
    """The text encoder's keys of a CLIPTextModel or full CLIPModel file: the old position_ids buffer and the
    vision tower / projections are dropped (not refused); everything else must match exactly."""
    return {k: v for k, v in state.items() if k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES)}


def randomize(model):
    # Default init: LayerNorms at scale 1, shift 0, embeddings N(0, 1). Perturb the norms so parity covers them,
    # and use CLIP's own embedding scale so the activations look like a real encoder's.
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            nn.init.normal_(m.weight, mean=1.0, std=0.1)
            nn.init.normal_(m.bias, std=0.1)
    nn.init.normal_(model.text_model.embeddings.token_embedding.weight, std=0.02)
    nn.init.normal_(model.text_model.embeddings.position_embedding.weight, std=0.01)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    m = build("vit-l-14")
    print(f"CLIP ViT-L/14 text encoder: {parameter_count(m):,} parameters ({parameter_count(m) / 1e6:.2f}M)")
