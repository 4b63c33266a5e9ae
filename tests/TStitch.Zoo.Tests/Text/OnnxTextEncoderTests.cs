using TStitch.Models.Onnx;
using TStitch.Models.Text;
using TStitch.Sampling;
using DT = TStitch.Models.Onnx.TensorProto.Types.DataType;

namespace TStitch.Zoo.Tests.Text;

/// <summary>
/// <see cref="OnnxTextEncoder"/> on a stand-in graph written with <see cref="GraphBuilder"/>: a Gather
/// from an embedding table whose row for token id t is [t, t + 0.25, -t], so every output value can be
/// read back as the token id that made it. (Numerical parity with a real CLIP text model is the
/// PyTorch export's test.)
/// </summary>
public class OnnxTextEncoderTests : IDisposable
{
    private const int S = TinyClipFiles.StartId, E = TinyClipFiles.EndId, Width = 3, Tokens = 8;
    private readonly string _dir = Directory.CreateTempSubdirectory("tstitch-textenc-onnx-").FullName;

    private string WriteEncoder(object[] outputDims, int manifestWidth = Width, string inputName = "input_ids", bool hideWidth = false)
    {
        TinyClipFiles.Write(_dir);
        int vocabSize = E + 1;
        var table = new float[vocabSize * Width];
        for (int t = 0; t < vocabSize; t++)
            (table[t * Width], table[t * Width + 1], table[t * Width + 2]) = (t, t + 0.25f, -t);
        var g = new GraphBuilder("gather_clip");
        g.AddInput(inputName, DT.Int64, "N", Tokens);
        g.AddOutput("last_hidden_state", DT.Float, outputDims);
        var gathered = g.Op("Gather", [g.Constant("table", table, vocabSize, Width), inputName], GraphBuilder.Attr("axis", 0L));
        // hideWidth: reshape to Concat(Shape(ids), [-1]), the same [N, L, D], which leaves D unknown until the graph runs.
        var shape = hideWidth
            ? g.Op("Concat", [g.Op("Shape", [inputName]), g.Constant("rest", [-1L], 1)], GraphBuilder.Attr("axis", 0L))
            : g.Constant("shape", [-1L, Tokens, Width], 3);
        g.OpNamed("Reshape", "last_hidden_state", [gathered, shape]);
        File.WriteAllBytes(Path.Combine(_dir, "clip.onnx"), g.ToModelBytes());
        var path = Path.Combine(_dir, "clip.json");
        new TextEncoderManifest
        {
            Name = "gather-clip", Kind = "text-encoder", Onnx = "clip.onnx", Vocab = "tiny.vocab.json", Merges = "tiny.merges.txt",
            MaxTokens = Tokens, Width = manifestWidth,
        }.Save(path);
        return path;
    }

    [Fact]
    public void One_run_embeds_every_prompt_row_by_row()
    {
        using var encoder = new OnnxTextEncoder(WriteEncoder(["N", Tokens, Width]));
        Assert.Equal((Tokens, Width), (encoder.MaxTokens, encoder.Width));
        var output = encoder.Encode(["The cat", "", "photo!"]);
        // Rows by hand (see ClipTokenizerTests): the</w> 513, cat</w> 515, photo</w> 522, !</w> 256; padded with the end id.
        long[][] rows = [[S, 513, 515, E, E, E, E, E], [S, E, E, E, E, E, E, E], [S, 522, 256, E, E, E, E, E]];
        Assert.Equal(3 * Tokens * Width, output.Length);
        for (int n = 0; n < 3; n++)
            for (int l = 0; l < Tokens; l++)
            {
                int at = (n * Tokens + l) * Width;
                float t = rows[n][l];
                Assert.Equal([t, t + 0.25f, -t], output[at..(at + Width)]);
            }
    }

    [Fact]
    public void A_prompt_over_the_limit_is_refused_naming_its_index()
    {
        using var encoder = new OnnxTextEncoder(WriteEncoder(["N", Tokens, Width]));
        var e = Assert.Throws<InvalidRequestException>(() => encoder.Encode(["cat", "a a a a a a a"], "negative_prompts"));
        Assert.Equal("negative_prompts[1]", e.Field);
        Assert.Contains("is 9 tokens", e.Message);
    }

    [Fact]
    public void A_graph_that_disagrees_with_the_manifest_is_refused_at_load()
    {
        var e = Assert.Throws<InvalidDataException>(() => new OnnxTextEncoder(WriteEncoder(["N", Tokens, Width], manifestWidth: 4)));
        Assert.Contains("output 'last_hidden_state' is declared [?, 8, 3]", e.Message);
        Assert.Contains("[N, maxTokens, width] = [?, 8, 4]", e.Message);

        e = Assert.Throws<InvalidDataException>(() => new OnnxTextEncoder(WriteEncoder(["N", Tokens, Width], inputName: "tokens")));
        Assert.Contains("has no input tensor 'input_ids' (it has: tokens); set io.tokens", e.Message);
    }

    [Fact]
    public void With_dynamic_axes_a_wrong_width_fails_at_the_first_run_with_both_shapes()
    {
        using var encoder = new OnnxTextEncoder(WriteEncoder(["N", "L", "D"], manifestWidth: 4, hideWidth: true));
        var e = Assert.Throws<InvalidDataException>(() => encoder.Encode(["cat", "photo"]));
        Assert.Contains("output 'last_hidden_state' came out [2, 8, 3]; the manifest says [N, maxTokens, width] = [2, 8, 4]", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
