"""CLIP's tokenizer files (vocab.json + merges.txt), a small test vocabulary in the same layout, and a
reference BPE encoder for the fixtures.

Layout of CLIP's vocabulary (openai/clip-vit-large-patch14, SD v1's tokenizer/ folder):
  ids 0..255    the 256 byte-level symbols of GPT-2's bytes_to_unicode, in that function's order;
  ids 256..511  the same 256 symbols with the end-of-word suffix "</w>";
  then one id per merge, in merges.txt order (the merged string);
  then <|startoftext|> and <|endoftext|>, the last two ids.
merges.txt: "#version: 0.2", then one merge per line ("t h", "th e</w>", ...); a merge's rank is its line.

`encode` follows CLIP's bpe()/encode() (lowercase, split into words, bytes -> symbols, the last symbol of a
word carries "</w>", repeatedly merge the lowest-ranked adjacent pair) for ASCII text only: CLIP's word
pattern uses Unicode classes (\\p{L}, \\p{N}) that Python's re module lacks, and its ftfy clean-up is
skipped. It exists to make fixtures (ids for known prompts), not to serve.
"""
import json
import os
import re

VERSION_LINE = "#version: 0.2"
START, END = "<|startoftext|>", "<|endoftext|>"
MAX_TOKENS = 77

# Words the test vocabulary makes single tokens (a few dozen merges); everything else still tokenizes,
# in smaller pieces down to single bytes.
TEST_WORDS = ("the", "a", "an", "of", "in", "on", "and", "with", "photo", "cat", "cats", "dog", "red", "car",
              "painting", "astronaut", "riding", "horse", "mars")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable symbol table: printable Latin-1 bytes map to themselves, the
    others to code points from 256 up, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_ENCODER = bytes_to_unicode()
# ASCII equivalent of CLIP's pattern: <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
WORD = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")


def base_vocab():
    symbols = list(BYTE_ENCODER.values())
    return symbols + [s + "</w>" for s in symbols]


def vocab_from_merges(merges):
    """{token: id} in CLIP's order for the given merges (list of (left, right))."""
    tokens = base_vocab() + ["".join(m) for m in merges] + [START, END]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("merges produce a token twice")
    return vocab


class Bpe:
    def __init__(self, merges):
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.vocab = vocab_from_merges(merges)

    def word(self, token):
        """One pre-split word (already byte-encoded) -> its BPE symbols."""
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word

    def encode(self, text):
        """Prompt -> BPE ids (no start/end tokens). ASCII only (see the module doc)."""
        if not text.isascii():
            raise ValueError(f"the reference encoder handles ASCII text only: {text!r}")
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for w in WORD.findall(text):
            if w in (START, END):
                ids.append(self.vocab[w])
                continue
            ids.extend(self.vocab[s] for s in self.word("".join(BYTE_ENCODER[b] for b in w.encode("utf-8"))))
        return ids

    def row(self, text, max_tokens=MAX_TOKENS):
        """What SD feeds the text encoder: <|startoftext|>, the prompt's ids (truncated), <|endoftext|>, then
        <|endoftext|> padding up to max_tokens."""
        ids = [self.vocab[START]] + self.encode(text)[: max_tokens - 2] + [self.vocab[END]]
        return ids + [self.vocab[END]] * (max_tokens - len(ids))


def test_merges(words=TEST_WORDS):
    """A few dozen merges that make each of `words` one token (with "</w>"): for each word, join its current
    pieces left to right. Later merges rank lower, so they never split a word made earlier."""
    merges, known = [], set(base_vocab())
    for w in words:
        pieces = Bpe(merges).word(w)
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            if merged in known:
                raise ValueError(f"test vocabulary: '{merged}' would be made twice")
            merges.append((pieces[0], pieces[1]))
            known.add(merged)
            pieces = [merged] + pieces[2:]
    bpe = Bpe(merges)
    for w in words:
        assert bpe.word(w) == [w + "</w>"], (w, bpe.word(w))
    return merges


def write(folder, stem, merges):
    """Writes STEM.vocab.json and STEM.merges.txt (CLIP's format) into folder; returns their file names."""
    vocab = vocab_from_merges(merges)
    vocab_name, merges_name = f"{stem}.vocab.json", f"{stem}.merges.txt"
    with open(os.path.join(folder, vocab_name), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, merges_name), "w", encoding="utf-8") as f:
        f.write(VERSION_LINE + "\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab_name, merges_name


def read(vocab_path, merges_path):
    """(vocab {token: id}, merges [(left, right)]) from CLIP-format files."""
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if not lines or not lines[0].startswith("#version"):
        raise ValueError(f"{merges_path}: first line is not '#version: ...'")
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]
    if any(len(m) != 2 for m in merges):
        raise ValueError(f"{merges_path}: a merge line is not two symbols separated by one space")
    return vocab, merges
