using System.Text;
using System.Text.RegularExpressions;
using TStitch.Models.Text;
using TStitch.Sampling;

namespace TStitch.Zoo.Tests.Text;

/// <summary>
/// <see cref="ClipTokenizer"/> on the hand-made vocabulary of <see cref="TinyClipFiles"/>. Expected ids
/// are worked out by hand below: printable ASCII c is c - 33, c + "&lt;/w&gt;" is c - 33 + 256, merge k
/// makes 512 + k, &lt;|startoftext|&gt; 524, &lt;|endoftext|&gt; 525.
/// </summary>
public class ClipTokenizerTests : IDisposable
{
    private const int S = TinyClipFiles.StartId, E = TinyClipFiles.EndId;
    private readonly string _dir = Directory.CreateTempSubdirectory("tstitch-clip-").FullName;
    private readonly ClipTokenizer _tokenizer;

    public ClipTokenizerTests()
    {
        var (vocab, merges) = TinyClipFiles.Write(_dir);
        _tokenizer = new ClipTokenizer(vocab, merges, maxTokens: 8);
    }

    public static TheoryData<string, int[]> Prompts => new()
    {
        // "the": t h e</w> -> th e</w> (merge 0) -> the</w> (merge 1) = 513; "cat" -> ca t</w> -> cat</w> = 515.
        { "the cat", [S, 513, 515, E] },
        // Lower-cased first.
        { "THE Cat", [S, 513, 515, E] },
        // Whitespace (repeated, tabs, newlines, leading, trailing) only separates pieces.
        { "  the \t\n  cat  ", [S, 513, 515, E] },
        // "cat, the." -> cat | , | the | .  with ',' = 44 - 33 + 256 = 267 and '.' = 46 - 33 + 256 = 269.
        { "cat, the.", [S, 515, 267, 513, 269, E] },
        // A run of punctuation is one piece: ! !</w>, no merge: 33 - 33 = 0, then 256.
        { "cat!!", [S, 515, 0, 256, E] },
        // Digits are one piece each: '4' = 52 - 33 = 19 -> 4</w> 275; '2' -> 2</w> 273.
        // "cats": c a t s</w> -> ca t s</w> (no "ca t" merge, only "ca t</w>"): 514, 't' = 83, "s</w>" = 338.
        { "42 cats", [S, 275, 273, 514, 83, 338, E] },
        // The contraction is its own piece: it</w> 517 and ' s</w> -> 's</w> 518.
        { "it's", [S, 517, 518, E] },
        { "It'S", [S, 517, 518, E] },
        // Four merges: p h o t o</w> -> ph o t o</w> -> ph ot o</w> -> ph oto</w> -> photo</w> = 522.
        { "photo", [S, 522, E] },
        // No merge applies: byte symbols, the last with </w>: z 89, e 68, b 65, r 81, a</w> 320.
        { "zebra", [S, 89, 68, 65, 81, 320, E] },
        // A merge applies everywhere it can, leftmost first: b an an a</w> = 65, 523, 523, 320.
        { "banana", [S, 65, 523, 523, 320, E] },
        // é is UTF-8 C3 A9: 'Ã' (0xC3) is symbol 94 + 12 + (0xC3 - 0xAE) = 127; '©' (0xA9) is 94 + (0xA9 - 0xA1) = 102, with </w> 358.
        { "é", [S, 127, 358, E] },
        // É lower-cases to é; "café" -> ca f Ã ©</w>: 514, 'f' = 69, 127, 358.
        { "CAFÉ", [S, 514, 69, 127, 358, E] },
        // e + combining acute (U+0301) composes to é (NFC) before the split.
        { "cafe\u0301", [S, 514, 69, 127, 358, E] },
        // ’ (U+2019, UTF-8 E2 80 99) is not ftfy-uncurled: it splits "it’s" into it | ’ | s. 0xE2 -> 106 + (0xE2 - 0xAE) = 158;
        // 0x80 and 0x99 are not printable; the remapped bytes follow the 188 printable ones in byte order (0-32, 127-160, 173), so
        // 0x80 is 188 + 33 + 1 = 222 and 0x99 is 188 + 33 + 26 = 247, with </w> 503; then s</w> 338.
        { "it’s", [S, 517, 158, 222, 503, 338, E] },
        // Python's lower() makes İ "i" + U+0307 (UTF-8 CC 87), which is not a letter: i</w> 328, then 0xCC = 106 + (0xCC - 0xAE) = 136
        // and 0x87 = 188 + 33 + 8 = 229, with </w> 485.
        { "İ", [S, 328, 136, 485, E] },
        // CLIP's special tokens inside a prompt keep their ids (CLIP's pattern and its BPE cache do that too).
        { "a <|endoftext|> B", [S, 320, E, 321, E] },
        { "", [S, E] },
        { " \t ", [S, E] },
    };

    [Theory]
    [MemberData(nameof(Prompts))]
    public void Prompts_tokenize_to_the_hand_worked_ids(string prompt, int[] expected)
    {
        Assert.Equal(expected, _tokenizer.Tokenize(prompt));
        Assert.Equal(expected.Length, _tokenizer.CountTokens(prompt));
    }

    [Fact]
    public void A_row_is_start_ids_end_then_padding()
    {
        Assert.Equal([S, 513, 515, E, E, E, E, E], _tokenizer.Encode("The cat"));
        var (vocab, merges) = TinyClipFiles.Write(_dir);
        var bangPadded = new ClipTokenizer(vocab, merges, maxTokens: 6, padToken: "!");
        Assert.Equal([S, 522, E, 0, 0, 0], bangPadded.Encode("photo"));
    }

    [Fact]
    public void Exactly_max_tokens_fits_and_one_more_is_refused_with_its_count()
    {
        // Six a</w> plus start and end = 8 = maxTokens.
        Assert.Equal([S, 320, 320, 320, 320, 320, 320, E], _tokenizer.Encode("a a a a a a"));
        var e = Assert.Throws<InvalidRequestException>(() => _tokenizer.Encode("a a a a a a a", "prompts[3]"));
        Assert.Equal("prompts[3]", e.Field);
        Assert.Contains("prompts[3] is 9 tokens", e.Message);
        Assert.Contains("at most 8", e.Message);
        Assert.Equal(9, _tokenizer.CountTokens("a a a a a a a"));
        var row = new long[8];
        Assert.Throws<InvalidRequestException>(() => _tokenizer.Encode("a a a a a a a", row));
        Assert.All(row, id => Assert.Equal(0, id));   // nothing written when refused
    }

    [Fact]
    public void Bpe_matches_a_port_of_clips_bpe_on_random_merges_and_words()
    {
        // Random merge tables over "abcd" (some merges make the same string twice, as real ones do) and
        // random words; expected = CLIP's bpe() as in simple_tokenizer.py, ported below.
        var rng = new Random(13);
        for (int table = 0; table < 5; table++)
        {
            var open = new List<string> { "a", "b", "c", "d" };
            var all = new List<string>(open.Concat(open.Select(s => s + "</w>")));
            var merges = new List<string>();
            while (merges.Count < 40)
            {
                string left = open[rng.Next(open.Count)], right = all[rng.Next(all.Count)];
                var merge = $"{left} {right}";
                if (merges.Contains(merge)) continue;
                merges.Add(merge);
                var made = left + right;
                if (!all.Contains(made)) all.Add(made);
                if (!made.EndsWith("</w>", StringComparison.Ordinal) && !open.Contains(made)) open.Add(made);
            }
            var dir = Directory.CreateDirectory(Path.Combine(_dir, $"table{table}")).FullName;
            var (vocabPath, mergesPath) = TinyClipFiles.Write(dir, merges);
            var tokenizer = new ClipTokenizer(vocabPath, mergesPath, maxTokens: 77);
            var vocab = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))!;
            var ranks = merges.Select((m, r) => (Pair: (m.Split(' ')[0], m.Split(' ')[1]), Rank: r)).ToDictionary(x => x.Pair, x => x.Rank);
            for (int w = 0; w < 200; w++)
            {
                var word = new string(Enumerable.Range(0, rng.Next(1, 13)).Select(_ => "abcd"[rng.Next(4)]).ToArray());
                var expected = ClipBpe(word, ranks);
                var actual = tokenizer.Tokenize(word);
                Assert.True(actual.SequenceEqual([tokenizer.StartId, .. expected.Select(t => vocab[t]), tokenizer.EndId]),
                    $"table {table}, word '{word}': CLIP's bpe gives {string.Join(" ", expected)} = {string.Join(" ",
                        expected.Select(t => vocab[t]))}, the tokenizer {string.Join(" ", actual)}");
            }
        }
    }

    /// <summary>openai/CLIP simple_tokenizer.py's bpe(), ported as literally as C# allows.</summary>
    private static List<string> ClipBpe(string token, Dictionary<(string, string), int> ranks)
    {
        var word = token[..^1].Select(c => c.ToString()).Append(token[^1] + "</w>").ToList();
        if (word.Count == 1) return word;
        while (true)
        {
            var pairs = word.Zip(word.Skip(1)).Distinct();
            var bigram = pairs.MinBy(p => ranks.TryGetValue(p, out int r) ? r : int.MaxValue);
            if (!ranks.ContainsKey(bigram)) break;
            var (first, second) = bigram;
            var newWord = new List<string>();
            int i = 0;
            while (i < word.Count)
            {
                int j = word.IndexOf(first, i);
                if (j < 0)
                {
                    newWord.AddRange(word.Skip(i));
                    break;
                }
                newWord.AddRange(word.Skip(i).Take(j - i));
                i = j;
                if (word[i] == first && i < word.Count - 1 && word[i + 1] == second)
                {
                    newWord.Add(first + second);
                    i += 2;
                }
                else
                {
                    newWord.Add(word[i]);
                    i += 1;
                }
            }
            word = newWord;
            if (word.Count == 1) break;
        }
        return word;
    }

    [Fact]
    public void The_split_agrees_with_clips_pattern_as_a_dotnet_regex_on_bmp_text()
    {
        var pattern = new Regex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        string[] parts = ["a", "B", "é", "É", "ß", "日本", "'", "s", "t", "re", "LL", "d", "m", "ve", " ", "  ", "\t", "\n", "1",
            "²", "Ⅻ", "!", ".", "?!", "<|endoftext|>", "<|STARTOFTEXT|>", "<|", "|>", "\u0301", "’", "😀", "\u00a0", "-", "_"];
        var rng = new Random(7);
        for (int n = 0; n < 500; n++)
        {
            var prompt = string.Concat(Enumerable.Range(0, rng.Next(0, 12)).Select(_ => parts[rng.Next(parts.Length)]));
            var normalized = prompt.Normalize(NormalizationForm.FormC).ToLowerInvariant();
            var expected = pattern.Matches(normalized).Select(m => m.Value).ToList();
            Assert.Equal(expected, ClipTokenizer.PreTokenize(prompt));
        }
    }

    [Fact]
    public void Letters_and_digits_outside_the_bmp_count_as_letters_and_digits()
    {
        // 𝐀 (U+1D400) is a letter and 𝟏 (U+1D7CF) a digit for Python's regex; .NET's Regex would see two surrogates.
        Assert.Equal(["a𝐀b", "𝟏", "😀!"], ClipTokenizer.PreTokenize("a𝐀b𝟏😀!"));
    }

    [Fact]
    public void A_vocabulary_without_every_byte_symbol_is_refused_at_load()
    {
        // Without "q</w>", ML.NET's BPE would silently drop a final q; the tokenizer refuses the files instead.
        var (vocab, merges) = TinyClipFiles.Write(_dir, keep: t => t != "q</w>");
        var e = Assert.Throws<InvalidDataException>(() => new ClipTokenizer(vocab, merges, 77));
        Assert.Contains(vocab, e.Message);
        Assert.Contains("'q</w>' (byte 0x71)", e.Message);
    }

    [Fact]
    public void A_merge_of_unknown_tokens_and_a_missing_special_token_are_refused_at_load()
    {
        var (vocab, merges) = TinyClipFiles.Write(_dir);
        File.AppendAllText(merges, "th xyz\n");
        var e = Assert.Throws<InvalidDataException>(() => new ClipTokenizer(vocab, merges, 77));
        Assert.Contains(merges, e.Message);
        Assert.Contains("xyz", e.Message);

        (vocab, merges) = TinyClipFiles.Write(_dir, keep: t => t != "<|startoftext|>");
        e = Assert.Throws<InvalidDataException>(() => new ClipTokenizer(vocab, merges, 77));
        Assert.Contains("'<|startoftext|>', which the manifest's startToken names", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
