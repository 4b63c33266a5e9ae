using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using TStitch.Sampling;

namespace TStitch.Models.Text;

/// <summary>
/// CLIP's tokenizer for prompts, as openai/CLIP's simple_tokenizer.py and transformers' CLIPTokenizer
/// do it: normalize (NFC, lower case), split with CLIP's pattern, write each piece's UTF-8 bytes as
/// GPT-2's byte symbols, then byte-pair-encode each piece with the end-of-word suffix "&lt;/w&gt;" on its
/// last symbol. A row is the start token, the pieces' ids, the end token, then padding.
/// <para>
/// Not done: ftfy.fix_text (Python only). Of what it does, only NFC is reproduced here; its other
/// repairs (mojibake, curly quotes to straight ones, Latin ligatures, full-width letters, HTML
/// entities; openai's version also unescapes HTML) are not, so prompts containing those can
/// tokenize differently from a Python pipeline that has ftfy installed.
/// </para>
/// <para>
/// Prompts longer than <see cref="MaxTokens"/> (start and end included) are refused with an
/// <see cref="InvalidRequestException"/> naming the field, never truncated: CLIP's and diffusers'
/// pipelines cut them off silently, which changes the image without telling the caller.
/// </para>
/// <para>
/// Cross-checked once against simple_tokenizer.py's code run in Python (regex module, NFC instead of
/// ftfy) on 12,000 random prompts (contractions, specials, accents, CJK, emoji, letters outside the
/// BMP, odd whitespace) over a random merge table: identical ids, except a word-final capital sigma
/// (see <see cref="Normalize"/>).
/// </para>
/// Thread-safe: ML.NET's BPE locks its word cache, and nothing else here changes after construction.
/// </summary>
public sealed class ClipTokenizer
{
    public const string EndOfWordSuffix = "</w>";

    /// <summary>
    /// CLIP's special-token literals: its pattern keeps them whole, and a prompt containing one gets the special id (as in CLIP).
    /// </summary>
    private static readonly string[] SpecialLiterals = ["<|startoftext|>", "<|endoftext|>"];
    /// <summary>The contractions of CLIP's pattern, in its order.</summary>
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
    /// <summary>GPT-2's bytes_to_unicode: byte value -> the printable symbol that stands for it in vocab.json and merges.txt.</summary>
    private static readonly char[] ByteSymbols = BytesToUnicode();

    private readonly BpeTokenizer _bpe;

    /// <summary>Tokens per row, start and end included.</summary>
    public int MaxTokens { get; }
    public int StartId { get; }
    public int EndId { get; }
    public int PadId { get; }

    /// <param name="vocabPath">CLIP's vocab.json: token -> id, with all 256 byte symbols alone and with "&lt;/w&gt;".</param>
    /// <param name="mergesPath">CLIP's merges.txt: "#version: 0.2", then one "a b" merge per line, best first.</param>
    public ClipTokenizer(string vocabPath, string mergesPath, int maxTokens, string startToken = "<|startoftext|>",
        string endToken = "<|endoftext|>", string padToken = "<|endoftext|>")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 2);
        // Only the BPE step is ML.NET's. Its whole pipeline (CLIP's pattern as a RegexPreTokenizer, ByteLevel,
        // LowerCaseNormalizer) gets ordinary prompts right too, but .NET's Regex classifies UTF-16 code units
        // (see PreTokenize), and it has neither NFC nor Python's 'İ' rule nor CLIP's special literals without
        // more of its extension points; the byte mapping itself is five lines. So normalization, split and
        // byte mapping are done here and each piece goes to the BPE with pre-tokenization and normalization
        // off. Checked against a port of CLIP's bpe() in ClipTokenizerTests: the suffix joins the piece's last
        // symbol before merging, and merges apply by rank, every occurrence, leftmost first.
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(vocabPath, mergesPath) { EndOfWordSuffix = EndOfWordSuffix });
        }
        catch (Exception e) when (e is InvalidOperationException or JsonException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"CLIP tokenizer files '{vocabPath}' and '{mergesPath}' do not load: {e.Message}", e);
        }
        var vocab = _bpe.Vocabulary;
        // ML.NET drops a symbol that is not in the vocabulary without a word (CLIP would fail on it). With
        // every byte symbol present, alone and as a last symbol, every piece has a complete tokenization.
        for (int b = 0; b < 256; b++)
        {
            foreach (var symbol in (string[])[ByteSymbols[b].ToString(), ByteSymbols[b] + EndOfWordSuffix])
                if (!vocab.ContainsKey(symbol))
                    throw new InvalidDataException($"{vocabPath}: has no token '{symbol}' (byte 0x{b:X2}); a CLIP vocabulary holds " +
                        $"all 256 byte symbols of GPT-2's bytes_to_unicode, alone and with \"{EndOfWordSuffix}\" " +
                        "(ids 0-511 in CLIP's own).");
        }
        MaxTokens = maxTokens;
        StartId = SpecialId(vocabPath, "startToken", startToken);
        EndId = SpecialId(vocabPath, "endToken", endToken);
        PadId = SpecialId(vocabPath, "padToken", padToken);
    }

    /// <summary>The tokenizer a text-encoder manifest names (vocab and merges relative to the manifest).</summary>
    public static ClipTokenizer FromManifest(TextEncoderManifest manifest, string manifestPath)
    {
        var vocab = ExistingFile(manifestPath, "vocab", manifest.Vocab);
        var merges = ExistingFile(manifestPath, "merges", manifest.Merges);
        return new ClipTokenizer(vocab, merges, manifest.MaxTokens, manifest.StartToken, manifest.EndToken, manifest.PadToken);
    }

    /// <summary>
    /// Token ids of <paramref name="prompt"/> without padding: start, the prompt's ids, end. May be longer than <see cref="MaxTokens"/>.
    /// </summary>
    public int[] Tokenize(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = new List<int> { StartId };
        var vocab = _bpe.Vocabulary;
        var symbols = new StringBuilder();
        foreach (var piece in PreTokenize(prompt))
        {
            if (SpecialLiterals.Contains(piece) && vocab.TryGetValue(piece, out int special))
            {
                ids.Add(special);
                continue;
            }
            symbols.Clear();
            foreach (byte b in Encoding.UTF8.GetBytes(piece))
                symbols.Append(ByteSymbols[b]);
            ids.AddRange(_bpe.EncodeToIds(symbols.ToString(), considerPreTokenization: false, considerNormalization: false));
        }
        ids.Add(EndId);
        return [.. ids];
    }

    /// <summary>
    /// Tokens <paramref name="prompt"/> takes in a row, start and end included; it fits when this is at most <see cref="MaxTokens"/>.
    /// </summary>
    public int CountTokens(string prompt) => Tokenize(prompt).Length;

    /// <summary>
    /// One row of exactly <see cref="MaxTokens"/> ids: start, the prompt's ids, end, then the pad id.
    /// Throws <see cref="InvalidRequestException"/> for <paramref name="field"/> (e.g. "prompts[2]") when
    /// the prompt does not fit, with its token count: it is refused, not truncated.
    /// </summary>
    public long[] Encode(string prompt, string field = "prompt")
    {
        var row = new long[MaxTokens];
        Encode(prompt, row, field);
        return row;
    }

    /// <summary>
    /// <see cref="Encode(string, string)"/> into <paramref name="row"/> (length <see cref="MaxTokens"/>), e.g. one row of a batch.
    /// </summary>
    public void Encode(string prompt, Span<long> row, string field = "prompt")
    {
        if (row.Length != MaxTokens)
            throw new ArgumentException($"row has {row.Length} values; a row is {MaxTokens} tokens.", nameof(row));
        var ids = Tokenize(prompt);
        if (ids.Length > MaxTokens)
            throw new InvalidRequestException(field, $"{field} is {ids.Length} tokens long counting the start and end tokens; the text " +
                $"encoder takes at most {MaxTokens}. Shorten it: longer prompts are refused, not cut off.");
        for (int i = 0; i < ids.Length; i++) row[i] = ids[i];
        row[ids.Length..].Fill(PadId);
    }

    /// <summary>
    /// The pieces CLIP's pattern cuts a prompt into, after normalization and before byte mapping:
    /// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
    /// (case-insensitive), whitespace skipped.
    /// </summary>
    /// <remarks>
    /// A scanner over Unicode scalars rather than .NET's Regex with that pattern: .NET's \p{L} and \p{N}
    /// test UTF-16 code units, so a letter outside the BMP (𝐀, CJK extension B) would fall into the
    /// punctuation class and split the word it is in, where Python's regex (code points) keeps it in.
    /// On BMP text the two agree (tested).
    /// Whitespace is skipped between pieces and never inside one, which is all CLIP's whitespace_clean
    /// (runs of whitespace to one space, trimmed) changes about the pieces, so it is not a separate step.
    /// </remarks>
    public static IReadOnlyList<string> PreTokenize(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var text = Normalize(prompt);
        var pieces = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            var rune = RuneAt(text, i);
            if (Rune.IsWhiteSpace(rune))
            {
                i += rune.Utf16SequenceLength;
                continue;
            }
            // The pattern's alternatives in its order: the first that matches here wins.
            int at = i;
            var literal = SpecialLiterals.FirstOrDefault(s => text.AsSpan(at).StartsWith(s, StringComparison.Ordinal))
                          ?? Contractions.FirstOrDefault(c => text.AsSpan(at).StartsWith(c, StringComparison.Ordinal));
            int end;
            if (literal is not null) end = i + literal.Length;
            else if (Rune.IsLetter(rune)) end = RunEnd(text, i, Rune.IsLetter);
            else if (Rune.IsNumber(rune)) end = i + rune.Utf16SequenceLength;   // [\p{N}]: one digit per piece
            else end = RunEnd(text, i, r => !Rune.IsWhiteSpace(r) && !Rune.IsLetter(r) && !Rune.IsNumber(r));
            pieces.Add(text[i..end]);
            i = end;
        }
        return pieces;
    }

    /// <summary>NFC (what ftfy and transformers' fast CLIP tokenizer apply), then lower case as Python's str.lower() does.</summary>
    /// <remarks>
    /// .NET's invariant lower-casing maps one character to one; Python's also applies Unicode's special
    /// casing. Its one unconditional rule, 'İ' -> "i̇" (i + U+0307), is applied here; the conditional one,
    /// a word-final 'Σ' -> 'ς', is not (transformers' fast tokenizer does not apply it either), so Greek
    /// capitals ending a word tokenize as 'σ' here and as 'ς' in CLIP's Python.
    /// </remarks>
    private static string Normalize(string prompt)
    {
        string nfc;
        try
        {
            nfc = prompt.Normalize(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            // A lone surrogate (a gRPC string, decoded from UTF-8, never has one): U+FFFD, as UTF-8 encoding would make it.
            nfc = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(prompt)).Normalize(NormalizationForm.FormC);
        }
        return nfc.Replace("\u0130", "i\u0307", StringComparison.Ordinal).ToLowerInvariant();
    }

    private static Rune RuneAt(string text, int i) =>
        Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out _) == System.Buffers.OperationStatus.Done ? rune : Rune.ReplacementChar;

    private static int RunEnd(string text, int start, Func<Rune, bool> inRun)
    {
        int j = start;
        while (j < text.Length)
        {
            var rune = RuneAt(text, j);
            if (!inRun(rune)) break;
            j += rune.Utf16SequenceLength;
        }
        return j;
    }

    private int SpecialId(string vocabPath, string field, string token) =>
        _bpe.Vocabulary.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"{vocabPath}: has no token '{token}', which the manifest's {field} names.");

    private static string ExistingFile(string manifestPath, string field, string file)
    {
        var path = TextEncoderManifest.Resolve(manifestPath, file);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Manifest '{manifestPath}' names {field} file '{path}', which does not exist.", path);
        return path;
    }

    /// <summary>
    /// GPT-2's bytes_to_unicode: the printable bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for
    /// themselves; the other 68, in byte order, become U+0100 onwards. Every symbol is one UTF-16 char.
    /// </summary>
    private static char[] BytesToUnicode()
    {
        var symbols = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            symbols[b] = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ' ? (char)b : (char)next++;
        return symbols;
    }
}
