#!/usr/bin/env python3
"""cases.py: random tokenizer test strings for bench/tokenize/anchor.sh's diff.

    cases.py OUT.inp [--n N] [--seed S]

Writes N strings (default 3000, fixed seed) in llama.cpp's .inp format (each
string followed by "\\n__ggml_vocab_test__\\n"). The strings are built from
fragments chosen to hit the places where pre-tokenizers and merges differ:
contractions in any case, digit runs of every length, punctuation and symbol
runs, every kind of white space (\\r\\n, tabs, runs of spaces, NBSP, U+3000,
trailing spaces), letters of many scripts with and without combining marks
(composed and decomposed), CJK, Hangul, emoji with ZWJ and skin tones,
zero-width characters, code, and random code points from every plane.
All strings are valid UTF-8 (llama.cpp's handling of invalid UTF-8 is not
part of the comparison; ken's own tests cover it).
"""
import random
import sys

SEP = "\n__ggml_vocab_test__\n"

WORDS = ["the", "The", "THE", "hello", "Hello", "world", "tokenizer", "don't", "DON'T",
         "we're", "We'Re", "they'll", "THEY'LL", "I'm", "it's", "IT'S", "you've", "he'd",
         "o'clock", "rock'n'roll", "e-mail", "U.S.A.", "Dr.", "naïve", "café", "cafe\u0301",
         "Äpfel", "A\u0308pfel", "Straße", "ﬁnance", "İstanbul", "ǅemal", "Ångström",
         "résumé", "jalapeño", "Zürich", "piñata", "coöperate", "Øresund"]
SCRIPTS = ["Ελληνικά", "ελληνικά", "Русский", "русский язык", "українська", "עברית",
           "العربية", "مرحبا بالعالم", "हिन्दी", "नमस्ते दुनिया", "বাংলা", "தமிழ்", "ไทย",
           "ภาษาไทย", "ქართული", "Հայերեն", "日本語", "こんにちは", "カタカナ", "中文",
           "你好，世界！", "漢字", "한국어", "안녕하세요", "ᄀᄁᄂ", "Tiếng Việt", "ʻŌlelo",
           "ꦗꦮ", "ᐃᓄᒃᑎᑐᑦ", "𐌰𐌱𐌲", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚", "ａｂｃ", "ＡＢＣ１２３"]
MARKS = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u093f", "\u0947", "\u094d",
         "\u0e31", "\u0e48", "\u05b7", "\u064e", "\u20dd", "\ufe0f", "\u200d"]
EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🦀", "✅", "☃", "⚡", "🤖🤖🤖"]
PUNCT = [".", ",", "!", "?", "...", "…", ";", ":", "-", "--", "—", "–", "(", ")", "[", "]",
         "{", "}", "<", ">", "<<=", "->", "=>", "::", "&&", "||", "!=", "==", "+=", "'", "\"",
         "''", "``", "`", "«", "»", "“", "”", "‘", "’", "#", "@", "$", "%", "^", "&", "*",
         "~", "|", "\\", "/", "_", "__", "™", "©", "°", "±", "×", "÷", "€", "£", "¥", "§",
         "¶", "•", "→", "∀", "∑", "√", "∞", "≈", "≠", "≤", "。", "、", "，", "！", "？", "「",
         "」", "।", "۔", "،"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \t ", "\u00a0",
          "\u2009", "\u3000", "\u200b", "\u2028", "\u000b", "\u000c", "        ", "\n\n\n"]
CODE = ["int main(void) {", "return 0;", "}", "for (i = 0; i < n; i++)", "#include <stdio.h>",
        "def f(x):", "    return x**2", "if __name__ == '__main__':", "x = [1, 2, 3]",
        "console.log(`${a}`);", "fn main() -> Result<(), E> {", "SELECT * FROM t WHERE a=1;",
        "<div class=\"x\">", "</div>", "a->b->c", "std::vector<int>", "0x1F3A", "1e-9",
        "3.14159", "x_1 = y__2", "/* comment */", "// note", "\"\\n\"", "'\\t'"]


def number(r):
    k = r.choice([1, 1, 2, 3, 3, 4, 5, 6, 7, 9, 12, 20])
    s = "".join(r.choice("0123456789") for _ in range(k))
    if r.random() < 0.2:
        s += r.choice([".", ",", "/", ":"]) + "".join(r.choice("0123456789") for _ in range(r.randint(1, 4)))
    if r.random() < 0.1:
        s = r.choice(["٣٤٥", "१२३", "¼", "½", "²", "Ⅻ", "①", "๓"]) + s
    return s


def random_cp(r):
    while True:
        plane = r.choice([0, 0, 0, 0, 1, 2])
        c = r.randrange(0x20 if plane == 0 else 0, 0x10000) + plane * 0x10000
        if 0xD800 <= c <= 0xDFFF:
            continue
        return chr(c)


def fragment(r):
    x = r.random()
    if x < 0.25: return r.choice(WORDS)
    if x < 0.37: return r.choice(SCRIPTS)
    if x < 0.47: return number(r)
    if x < 0.60: return r.choice(PUNCT) * r.choice([1, 1, 1, 2, 3])
    if x < 0.75: return r.choice(SPACES)
    if x < 0.80: return r.choice(EMOJI)
    if x < 0.85: return r.choice(CODE)
    if x < 0.90: return r.choice(WORDS + SCRIPTS) + "".join(r.choice(MARKS) for _ in range(r.randint(1, 3)))
    if x < 0.95: return "".join(random_cp(r) for _ in range(r.randint(1, 4)))
    return r.choice(["'s", "'S", "'ll", "'LL", "'re", "'RE", "'ve", "'d", "'m", "'t", "'T"])


def case(r):
    n = r.choice([1, 1, 2, 3, 5, 8, 13, 21, 40])
    parts = []
    for _ in range(n):
        parts.append(fragment(r))
        if r.random() < 0.6:
            parts.append(" ")
    s = "".join(parts)
    if r.random() < 0.15: s = " " + s
    if r.random() < 0.15: s = s + r.choice([" ", "  ", "\n", " \n"])
    return s


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: cases.py OUT.inp [--n N] [--seed S]")
    out, n, seed = args[0], 3000, 1
    if "--n" in args: n = int(args[args.index("--n") + 1])
    if "--seed" in args: seed = int(args[args.index("--seed") + 1])
    r = random.Random(seed)
    with open(out, "w", encoding="utf-8", newline="") as f:
        for _ in range(n):
            f.write(case(r) + SEP)


if __name__ == "__main__":
    main()
