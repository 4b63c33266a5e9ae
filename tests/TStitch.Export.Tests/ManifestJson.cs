using System.Text.Json.Nodes;

namespace TStitch.Export.Tests;

/// <summary>
/// Manifests read as plain JSON: the text-to-image manifests (scaled-linear schedule, text-embedding
/// conditioning, kind text-encoder) are checked against the issue 13 contract field by field, independently of
/// which of them ModelManifest already understands.
/// </summary>
public static class ManifestJson
{
    public static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>The JSON of <paramref name="node"/> without whitespace, for comparing a sub-object with the contract's literal.</summary>
    public static string Compact(JsonNode? node) => node?.ToJsonString() ?? "null";
}
