using System.Text.Json;

namespace TStitch.Zoo.Tests.Text;

/// <summary>
/// A tiny CLIP tokenizer written the way CLIP's own files are laid out (simple_tokenizer.py builds its
/// vocabulary so): ids 0-255 the byte symbols of GPT-2's bytes_to_unicode in that table's order,
/// 256-511 the same with "&lt;/w&gt;", then one id per merge in merges.txt order, then
/// &lt;|startoftext|&gt; and &lt;|endoftext|&gt;. So, as in CLIP's real vocabulary, a printable ASCII
/// character c has id c - 33 and c + "&lt;/w&gt;" has c - 33 + 256 ("a&lt;/w&gt;" = 320).
/// </summary>
public static class TinyClipFiles
{
    /// <summary>The hand-made merges, best first; merge k makes token 512 + k.</summary>
    public static readonly string[] Merges =
    [
        "t h",          // 512 th
        "th e</w>",     // 513 the</w>
        "c a",          // 514 ca
        "ca t</w>",     // 515 cat</w>
        "a t</w>",      // 516 at</w>   (ranked after "c a": "cat" must not become c + at</w>)
        "i t</w>",      // 517 it</w>
        "' s</w>",      // 518 's</w>
        "p h",          // 519 ph
        "o t",          // 520 ot
        "ot o</w>",     // 521 oto</w>
        "ph oto</w>",   // 522 photo</w>
        "a n",          // 523 an
    ];

    public const int StartId = 512 + 12, EndId = 513 + 12;

    /// <summary>Writes vocab.json and merges.txt into <paramref name="dir"/>; returns their paths.</summary>
    public static (string Vocab, string Merges) Write(string dir, IEnumerable<string>? merges = null, Func<string, bool>? keep = null)
    {
        var mergeList = (merges ?? Merges).ToList();
        var symbols = ByteSymbolsInTableOrder();
        var tokens = symbols.Concat(symbols.Select(s => s + "</w>"))
            .Concat(mergeList.Select(m => m.Replace(" ", "", StringComparison.Ordinal)))
            .Concat(["<|startoftext|>", "<|endoftext|>"]);
        var vocab = new Dictionary<string, int>();
        foreach (var t in tokens)
            if (keep is null || keep(t)) vocab.TryAdd(t, vocab.Count);
        var vocabPath = Path.Combine(dir, "tiny.vocab.json");
        var mergesPath = Path.Combine(dir, "tiny.merges.txt");
        File.WriteAllText(vocabPath, JsonSerializer.Serialize(vocab));
        File.WriteAllText(mergesPath, "#version: 0.2\n" + string.Join("\n", mergeList) + "\n");
        return (vocabPath, mergesPath);
    }

    /// <summary>
    /// bytes_to_unicode's table in its order: '!'..'~', '¡'..'¬', '®'..'ÿ' as themselves, then the other
    /// 68 bytes in byte order as U+0100 onwards (written here from the Python, independently of ClipTokenizer).
    /// </summary>
    public static List<string> ByteSymbolsInTableOrder()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1)
            .Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var rest = Enumerable.Range(0, 256).Except(printable).ToList();
        return [.. printable.Select(b => ((char)b).ToString()), .. rest.Select((_, n) => ((char)(256 + n)).ToString())];
    }
}
