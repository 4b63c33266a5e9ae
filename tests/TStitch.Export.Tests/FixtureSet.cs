using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TStitch.Export.Tests;

/// <summary>
/// One fixtures.json written by tools/export/common.py: named tensors as raw little-endian
/// float32 / int64 files, with their shapes, and the manifest they belong to.
/// </summary>
public sealed class FixtureSet
{
    public sealed record Tensor(string Name, string File, string Dtype, int[] Shape);

    private sealed record Index(string Manifest, string? Note, Tensor[] Inputs, Tensor[] Outputs);

    private readonly string _folder;
    private readonly Dictionary<string, Tensor> _tensors;

    public string ManifestPath { get; }
    public string? Note { get; }
    /// <summary>The whole fixtures.json, for the fields beyond the tensors (e.g. the prompts behind token ids,
    /// a reference run's settings).</summary>
    public JsonObject Fields { get; }

    private FixtureSet(string folder, Index index, JsonObject fields)
    {
        _folder = folder;
        Fields = fields;
        ManifestPath = Path.GetFullPath(Path.Combine(folder, index.Manifest));
        Note = index.Note;
        _tensors = index.Inputs.Concat(index.Outputs).ToDictionary(t => t.Name);
    }

    public static FixtureSet Load(string folder)
    {
        var path = Path.Combine(folder, "fixtures.json");
        var text = File.ReadAllText(path);
        var index = JsonSerializer.Deserialize<Index>(text, JsonSerializerOptions.Web)
                    ?? throw new InvalidDataException($"{path} is empty.");
        return new FixtureSet(folder, index, JsonNode.Parse(text)!.AsObject());
    }

    public int[] Shape(string name) => _tensors[name].Shape;

    public float[] Floats(string name) => Read<float>(name, "float32");

    public long[] Longs(string name) => Read<long>(name, "int64");

    private T[] Read<T>(string name, string dtype) where T : struct
    {
        var t = _tensors[name];
        if (t.Dtype != dtype)
            throw new InvalidDataException($"Fixture tensor '{name}' is {t.Dtype}, not {dtype}.");
        // The files are little-endian, as is every platform .NET runs these tests on.
        var values = MemoryMarshal.Cast<byte, T>(File.ReadAllBytes(Path.Combine(_folder, t.File))).ToArray();
        var expected = t.Shape.Aggregate(1, (a, d) => a * d);
        if (values.Length != expected)
            throw new InvalidDataException(
                $"Fixture tensor '{name}' has {values.Length} values, shape [{string.Join(", ", t.Shape)}] needs {expected}.");
        return values;
    }
}
