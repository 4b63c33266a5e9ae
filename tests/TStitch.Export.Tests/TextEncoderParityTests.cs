using System.Text.Json;

namespace TStitch.Export.Tests;

/// <summary>
/// The CLIP text encoder exported by tools/export/export_text_encoder.py computes in ONNX Runtime what it computed
/// in PyTorch; its manifest and tokenizer files are what the issue 13 contract says (CLIP's vocab.json / merges.txt
/// layout, so the C# ClipTokenizer reads the test vocabulary and SD's real one alike).
/// </summary>
[Collection(ExportCollection.Name)]
public class TextEncoderParityTests(ExportFixture fx)
{
    private Dictionary<string, int> Vocab() =>
        JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(fx.Directory, "clip-tiny.vocab.json")))!;

    [Fact]
    public void The_manifest_is_the_contracts_text_encoder()
    {
        var m = ManifestJson.Read(fx.ClipManifest);
        Assert.Equal("clip-tiny", (string)m["name"]!);
        Assert.Equal("text-encoder", (string)m["kind"]!);
        Assert.Equal("clip-tiny.onnx", (string)m["onnx"]!);
        Assert.Equal("""{"tokens":"input_ids","output":"last_hidden_state"}""", ManifestJson.Compact(m["io"]));
        Assert.Equal("clip-tiny.vocab.json", (string)m["vocab"]!);
        Assert.Equal("clip-tiny.merges.txt", (string)m["merges"]!);
        Assert.Equal(77, (int)m["maxTokens"]!);
        Assert.Equal(32, (int)m["width"]!);
        Assert.Equal("<|startoftext|>", (string)m["startToken"]!);
        Assert.Equal("<|endoftext|>", (string)m["endToken"]!);
        Assert.Equal("<|endoftext|>", (string)m["padToken"]!);
        Assert.True((long)m["parameterCount"]! > 0);
        Assert.False(string.IsNullOrWhiteSpace((string?)m["description"]));
        Assert.True(File.Exists(Path.Combine(fx.Directory, (string)m["vocab"]!)));
        Assert.True(File.Exists(Path.Combine(fx.Directory, (string)m["merges"]!)));
    }

    [Fact]
    public void The_output_matches_pytorch()
    {
        using var encoder = new RawTextEncoder(fx.ClipManifest);
        Assert.Equal([2, 77], fx.Clip.Shape("input_ids"));
        var actual = encoder.Run(fx.Clip.Longs("input_ids"));
        Parity.AssertClose(fx.Clip.Floats("last_hidden_state"), actual, what: "last_hidden_state");
    }

    [Fact]
    public void The_mask_is_causal_later_tokens_do_not_change_earlier_positions()
    {
        using var encoder = new RawTextEncoder(fx.ClipManifest);
        var ids = fx.Clip.Longs("input_ids")[..77];
        var changed = (long[])ids.Clone();
        changed[5] = changed[1];  // position 5 and everything after it sees a different token
        var a = encoder.Run(ids);
        var b = encoder.Run(changed);
        int w = encoder.Width;
        Parity.AssertClose(a.AsSpan(0, 5 * w), b.AsSpan(0, 5 * w), 1e-6f, "positions 0-4");
        Assert.True(a.Skip(5 * w).Zip(b.Skip(5 * w), (p, q) => MathF.Abs(p - q)).Max() > 1e-3f, "position 5 on did not change");
    }

    [Fact]
    public void The_test_vocabulary_has_clips_layout()
    {
        var vocab = Vocab();
        var lines = File.ReadAllLines(Path.Combine(fx.Directory, "clip-tiny.merges.txt"));
        Assert.Equal("#version: 0.2", lines[0]);
        var merges = lines.Skip(1).Where(l => l.Length > 0).ToArray();

        // ids 0..n-1, each once: 256 byte symbols, the same with </w>, one per merge, then start and end.
        Assert.Equal(Enumerable.Range(0, vocab.Count), vocab.Values.Order());
        Assert.Equal(512 + merges.Length + 2, vocab.Count);
        // Ids CLIP's own vocabulary has too (GPT-2's bytes_to_unicode order): "!" first, byte 0 -> "Ā" after the 188
        // printable bytes, the space byte -> "Ġ", and "a</w>" = 256 + "a".
        Assert.Equal(0, vocab["!"]);
        Assert.Equal(64, vocab["a"]);
        Assert.Equal(188, vocab["Ā"]);
        Assert.Equal(220, vocab["Ġ"]);
        Assert.Equal(320, vocab["a</w>"]);
        Assert.Equal(vocab.Count - 2, vocab["<|startoftext|>"]);
        Assert.Equal(vocab.Count - 1, vocab["<|endoftext|>"]);
        // Merge k (0-based) makes token 512 + k from two tokens that exist already.
        for (int k = 0; k < merges.Length; k++)
        {
            var parts = merges[k].Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.Equal(512 + k, vocab[parts[0] + parts[1]]);
            Assert.True(vocab[parts[0]] < 512 + k && vocab[parts[1]] < 512 + k, $"merge '{merges[k]}' uses a later token");
        }
    }

    [Fact]
    public void The_fixture_rows_are_the_prompts_tokenized_as_sd_does()
    {
        // Start token, the prompt's BPE ids, end token, then end-token padding to 77. The test vocabulary makes each
        // of these words one token, so the rows can be spelled out from vocab.json by hand.
        var vocab = Vocab();
        Assert.Equal(["a photo of a cat", "An astronaut riding a horse on Mars!"],
            fx.Clip.Fields["prompts"]!.AsArray().Select(p => (string)p!));
        var ids = fx.Clip.Longs("input_ids");
        long start = vocab["<|startoftext|>"], end = vocab["<|endoftext|>"];
        long[] Row(params string[] words) =>
            [start, .. words.Select(w => (long)vocab[w]), .. Enumerable.Repeat(end, 77 - 1 - words.Length)];
        Assert.Equal(Row("a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>"), ids[..77]);
        // Lower-cased; "!" is a word of its own (a single byte, so "!</w>").
        Assert.Equal(Row("an</w>", "astronaut</w>", "riding</w>", "a</w>", "horse</w>", "on</w>", "mars</w>", "!</w>"), ids[77..]);
    }

    [Fact]
    public void The_model_embeds_exactly_the_vocabularys_tokens()
    {
        // The exporter sizes the tiny model's token embedding to its tokenizer: the last id runs, one past it is
        // outside the embedding table (ONNX Runtime's Gather checks its indices).
        int count = Vocab().Count;
        using var encoder = new RawTextEncoder(fx.ClipManifest);
        var ids = new long[77];
        Array.Fill(ids, count - 1);
        Assert.All(encoder.Run(ids), v => Assert.True(float.IsFinite(v)));
        ids[3] = count;
        Assert.ThrowsAny<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => encoder.Run(ids));
    }
}
