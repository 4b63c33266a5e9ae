namespace TStitch.Export.Tests;

/// <summary>Edits a saved state dict (Python child process) the ways real checkpoints go wrong or differ,
/// for the strict-loading tests.</summary>
public static class StateDictTamper
{
    // rename: key -> key_renamed; shrink: one row less; extra: add an unrelated key; wrap: {key: state, ...} as
    // DiT's train.py saves; position-ids: add the constant buffer older transformers saved with CLIP;
    // prefix: every key under `key` (e.g. "model.diffusion_model.", the original LDM checkpoint layout).
    private const string Script = """
        import sys, torch
        src, dst, mode, key = sys.argv[1:5]
        s = torch.load(src)
        if mode == "rename":
            s[key + "_renamed"] = s.pop(key)
        elif mode == "shrink":
            v = s[key]
            s[key] = torch.zeros((v.shape[0] - 1,) + tuple(v.shape[1:]))
        elif mode == "extra":
            s[key] = torch.zeros(8, 3, 3, 3)
        elif mode == "wrap":
            s = {key: s, "opt": {}, "args": None}
        elif mode == "position-ids":
            s[key] = torch.arange(77).unsqueeze(0)
        elif mode == "prefix":
            s = {key + k: v for k, v in s.items()}
        torch.save(s, dst)
        """;

    /// <summary>Writes the edited copy of <paramref name="source"/> into <paramref name="folder"/> and returns its path.</summary>
    public static string Tampered(string folder, string source, string mode, string key)
    {
        var path = Path.Combine(folder, $"{mode}-{Path.GetFileName(source)}");
        var r = PythonTool.Python("-c", Script, source, path, mode, key);
        Assert.True(r.ExitCode == 0, $"tampering failed: {r}");
        return path;
    }
}
