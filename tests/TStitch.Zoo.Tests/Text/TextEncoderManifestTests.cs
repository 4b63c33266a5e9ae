using System.Text.Json.Nodes;
using TStitch.Models.Text;

namespace TStitch.Zoo.Tests.Text;

public class TextEncoderManifestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tstitch-textenc-").FullName;

    /// <summary>The contract's example (issue 13), width 768.</summary>
    private static JsonObject Valid() => new()
    {
        ["name"] = "clip-tiny", ["kind"] = "text-encoder", ["onnx"] = "clip-tiny.onnx",
        ["io"] = new JsonObject { ["tokens"] = "input_ids", ["output"] = "last_hidden_state" },
        ["vocab"] = "clip-tiny.vocab.json", ["merges"] = "clip-tiny.merges.txt",
        ["maxTokens"] = 77, ["width"] = 768, ["startToken"] = "<|startoftext|>", ["endToken"] = "<|endoftext|>",
        ["padToken"] = "<|endoftext|>", ["parameterCount"] = 123456, ["description"] = "test",
    };

    private string Write(JsonObject json)
    {
        var path = Path.Combine(_dir, "clip.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void The_contracts_example_loads_and_names_files_relative_to_itself()
    {
        var path = Write(Valid());
        var m = TextEncoderManifest.Load(path);
        Assert.Equal(("clip-tiny", 77, 768, 123456L), (m.Name, m.MaxTokens, m.Width, m.ParameterCount));
        Assert.Equal(new TextEncoderIo("input_ids", "last_hidden_state"), m.Io);
        Assert.Equal(("<|startoftext|>", "<|endoftext|>", "<|endoftext|>"), (m.StartToken, m.EndToken, m.PadToken));
        Assert.Equal(Path.Combine(_dir, "clip-tiny.vocab.json"), TextEncoderManifest.Resolve(path, m.Vocab));
    }

    [Theory]
    [InlineData("kind", null, "kind is missing")]
    [InlineData("kind", "vae-decoder", "kind is 'vae-decoder', not 'text-encoder'")]
    [InlineData("name", null, "name is missing")]
    [InlineData("onnx", "", "onnx is missing")]
    [InlineData("vocab", null, "vocab is missing")]
    [InlineData("merges", " ", "merges is missing")]
    [InlineData("maxTokens", 1, "maxTokens must be at least 2")]
    [InlineData("maxTokens", null, "maxTokens must be at least 2")]
    [InlineData("width", 0, "width must be")]
    [InlineData("padToken", "", "padToken is missing")]
    [InlineData("width", "wide", "is not valid")]
    public void A_bad_field_is_refused_naming_the_file_and_the_field(string field, object? value, string expected)
    {
        var json = Valid();
        if (value is null) json.Remove(field);
        else json[field] = value switch { int i => JsonValue.Create(i), _ => JsonValue.Create((string)value) };
        var path = Write(json);
        var e = Assert.Throws<InvalidDataException>(() => TextEncoderManifest.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Io_must_name_both_tensors()
    {
        var json = Valid();
        json["io"] = new JsonObject { ["tokens"] = "" };
        var e = Assert.Throws<InvalidDataException>(() => TextEncoderManifest.Load(Write(json)));
        Assert.Contains("io must name", e.Message);
    }

    [Fact]
    public void A_missing_manifest_or_tokenizer_file_names_the_path()
    {
        Assert.Throws<FileNotFoundException>(() => TextEncoderManifest.Load(Path.Combine(_dir, "nope.json")));
        var path = Write(Valid());
        var e = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromManifest(TextEncoderManifest.Load(path), path));
        Assert.Contains("vocab file", e.Message);
        Assert.Contains(Path.Combine(_dir, "clip-tiny.vocab.json"), e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
