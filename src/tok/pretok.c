/* pretok.c: BPE pre-tokenization, the way llama.cpp does it.
 *
 * The text is decoded into code points (llama.cpp's lenient decoder) and
 * split by a list of steps chosen by tokenizer.ggml.pre. Each step splits
 * every current fragment further; the gaps between matches stay fragments.
 * The two hottest patterns (GPT-2's and Llama-3's) have hand-written
 * splitters that reproduce llama.cpp's own hand-written ones, quirks
 * included. Every other pattern runs through PCRE2 on the same subject
 * llama.cpp's std::regex sees: with Unicode categories, the "collapsed"
 * text (one byte per code point: ASCII as is, other code points replaced by
 * a byte naming their category, non-ASCII white space by VT) and the pattern
 * rewritten to match; without, the code points themselves (UTF mode).
 * Finally each fragment is UTF-8 encoded and its bytes mapped through GPT-2's
 * byte -> code point table (except for the PT_RAW kind: SentencePiece-style
 * BPE such as Gemma 4's, whose words stay UTF-8). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok/tok_int.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3_ORIG                                                                    \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "             \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                         \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                          \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"   \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN35                                                                         \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Chinese, Hiragana, Katakana (DeepSeek-V3, Youtu) */
#define RE_CJK_KANA "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"
#define RE_NOT_PUNCT " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
#define RE_NEWLINES "[^\\n]+|[\\n]+"
#define RE_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"
/* The letter class of DeepSeek-LLM's tokenizer.json, code point ranges. */
#define RE_DEEPSEEK_LETTERS                                                                \
    "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf"  \
    "\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd"      \
    "\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-"      \
    "\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f" \
    "\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4"  \
    "\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc" \
    "\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd"  \
    "\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe"  \
    "\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf" \
    "\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf" \
    "\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84"  \
    "\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84"  \
    "\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84" \
    "\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1"  \
    "\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99"  \
    "\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e" \
    "\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86\xef\xac" \
    "\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0" \
    "\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90"  \
    "\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3" \
    "\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"
#define RE_DEEPSEEK_PUNCT                                                                  \
    "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f" \
    "\xe3\x80\x80-\xe3\x80\x82]+"

/* A pre-tokenizer: its step patterns and llama.cpp's flags for it. */
enum {
    PT_CLEAN = 1 << 0,          /* clean_spaces: tidy spaces before punctuation on detokenize */
    PT_IGNORE_MERGES = 1 << 1,  /* a word that is a token is taken whole */
    PT_ADD_BOS = 1 << 2,
    PT_ADD_SEP = 1 << 3,
    PT_NO_BOS_ID = 1 << 4,      /* the BOS id is cleared (ChatGLM) */
    PT_RAW = 1 << 5,            /* words stay raw UTF-8 (no GPT-2 byte images); byte
                                   fallback through "<0xXX>" tokens */
    PT_ESCAPE_WS = 1 << 6,      /* spaces become U+2581 before splitting, and back */
    PT_GEMMA4 = 1 << 7,         /* Gemma 4: a word of newlines that is a token is taken
                                   whole, and BOS is always added */
    PT_NO_LOWERCASE = 1 << 8,   /* normalizer lowercase off unless the file says */
};

typedef struct {
    const char *names;     /* '|'-separated tokenizer.ggml.pre values */
    const char *re[6];
    unsigned flags;        /* PT_* */
} pretok_def;

static const pretok_def k_defs[] = {
    { "default", { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" }, PT_CLEAN },
    { "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano",
      { RE_LLAMA3 }, PT_CLEAN | PT_IGNORE_MERGES | PT_ADD_BOS },
    { "dbrx|smaug-bpe", { RE_LLAMA3 }, PT_CLEAN },
    { "chatglm-bpe|glm4", { RE_LLAMA3 }, PT_CLEAN | PT_NO_BOS_ID },
    { "deepseek-llm", { "[\r\n]", RE_DEEPSEEK_LETTERS, RE_DEEPSEEK_PUNCT, "\\s+$", RE_CJK,
                        "\\p{N}+" }, 0 },
    { "deepseek-coder", { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}" }, 0 },
    { "falcon", { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]" }, PT_CLEAN },
    { "starcoder|refact|codeshell|exaone|minerva-7b|mellum2", { "\\p{N}", RE_GPT2 }, PT_CLEAN },
    { "command-r|smollm", { "\\p{N}", RE_GPT2 }, 0 },
    { "gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|"
      "modern-bert|mpt|olmo|jais|exaone4", { RE_GPT2 }, PT_CLEAN },
    { "trillion|granite-docling", { RE_GPT2 }, 0 },
    { "jina-v1-en|jina-v2-code|roberta-bpe", { RE_GPT2 }, PT_CLEAN | PT_ADD_SEP },
    { "qwen2|deepseek-r1-qwen|kormo|f2llmv2|hunyuan|solar-open", { RE_QWEN2 }, 0 },
    { "stablelm2|megrez", { RE_QWEN2 }, PT_CLEAN },
    { "poro-chat", { RE_NOT_PUNCT }, 0 },
    { "bloom|gpt3-finnish", { RE_NOT_PUNCT }, PT_CLEAN },
    { "seed-coder", { RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
                      "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, 0 },
    { "grok-2", { RE_QWEN2 }, 0 },
    { "superbpe", { "\\p{N}+", "(?=(\\d{3})+(?!\\d))" }, 0 },
    { "qwen35", { RE_QWEN35 }, 0 },
    { "minicpm5", { "\\p{N}{1,3}", RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| "
                    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      PT_CLEAN | PT_IGNORE_MERGES },
    { "deepseek-v3|hunyuan-dense|joyai-llm", { "\\p{N}{1,3}", RE_CJK_KANA,
                       "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
                       "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+" }, 0 },
    { "youtu", { "[\xea\xb0\x80-\xed\x9e\xa3\xe3\x84\xb1-\xe3\x86\x8e]+|[\xef\xbc\x81\xe2\x80\xa6"
                 "\xe2\x80\x9c\xe2\x80\x9d\xe2\x80\x98\xe2\x80\x99\xe2\x80\x94\xef\xbc\x9a\xef\xbc\x9b"
                 "\xef\xbc\x8c\xe3\x80\x81-\xe3\x80\xbf\xef\xb8\xb0-\xef\xb9\x8f]+|[\xe3\x84\x85-\xe3\x84"
                 "\xaf]+|" RE_CJK_KANA,
                 "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?"
                 "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|"
                 "'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
                 "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, PT_IGNORE_MERGES },
    { "jais-2", { RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
                  "[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|"
                  "\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|"
                  "\\s{1,2}(?!\\S)|\\s{1}" }, PT_CLEAN },
    { "viking", { RE_NOT_PUNCT, "\\p{N}" }, 0 },
    { "tekken", { "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
                  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| "
                  "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      PT_IGNORE_MERGES | PT_ADD_BOS },
    { "exaone-moe", { RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|"
                      "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+" },
      PT_CLEAN },
    { "chameleon", { "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                     "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2 },
      PT_ADD_BOS },
    { "gpt-4o|llama4|kanana2|talkie|minimax-m2",
      { "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RE_CONTRACTIONS
        "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RE_CONTRACTIONS
        "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, 0 },
    { "granite-embed-multi-97m",
      { "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+"
        RE_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])"
        "([^A-Z]))*" RE_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+" }, PT_IGNORE_MERGES },
    { "bailingmoe|bailingmoe2|llada-moe",
      { "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+" }, 0 },
    /* SentencePiece-style BPE over raw UTF-8 ("gemma4" is also what the
     * tokenizer model "gemma4" implies, whatever tokenizer.ggml.pre says) */
    { "gemma4|granite-embed-multi-311m", { RE_NEWLINES },
      PT_CLEAN | PT_RAW | PT_ESCAPE_WS | PT_GEMMA4 },
    { "sarvam-moe", { RE_NEWLINES }, PT_RAW | PT_ESCAPE_WS },
    { "whitespace", { "\\S+" }, PT_CLEAN | PT_RAW | PT_NO_LOWERCASE },
};

static bool name_in(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* llama.cpp's \p{..} names and the byte standing for each category group. */
static const struct { const char *name; uint16_t flag; } k_ucat[] = {
    { "\\p{N}", TOK_CF_NUMBER }, { "\\p{L}", TOK_CF_LETTER }, { "\\p{P}", TOK_CF_PUNCT },
    { "\\p{M}", TOK_CF_MARK }, { "\\p{S}", TOK_CF_SYMBOL }, { "\\p{Lu}", TOK_CF_LETTER },
    { "\\p{Ll}", TOK_CF_LETTER }, { "\\p{Lt}", TOK_CF_LETTER }, { "\\p{Lm}", TOK_CF_LETTER },
    { "\\p{Lo}", TOK_CF_LETTER },
};

static unsigned char collapse_byte(uint16_t flag) {
    switch (flag) {
    case TOK_CF_NUMBER: return 0xD1;
    case TOK_CF_LETTER: return 0xD2;
    case TOK_CF_PUNCT: return 0xD3;
    case TOK_CF_MARK: return 0xD4;
    case TOK_CF_SYMBOL: return 0xD5;
    }
    return 0xD0;
}

/* The ASCII members of each category group, as a class body. */
static const char *collapse_ascii(uint16_t flag) {
    switch (flag) {
    case TOK_CF_NUMBER: return "0-9";
    case TOK_CF_LETTER: return "A-Za-z";
    case TOK_CF_PUNCT: return "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
    case TOK_CF_SYMBOL: return "\\$\\+<->^`\\|";
    }
    return "";
}

static bool uses_categories(const char *re) {
    for (size_t k = 0; k < KEN_ARRAY_LEN(k_ucat); k++)
        if (strstr(re, k_ucat[k].name)) return true;
    return false;
}

/* Rewrites \p{X} into the collapsed alphabet (a class, or class members
 * when already inside brackets), as llama.cpp's unicode_regex_split does. */
static ken_status collapse_regex(const char *re, tok_str *out) {
    size_t n = strlen(re);
    bool inside = false;
    ken_status st = KEN_OK;
    for (size_t i = 0; i < n && st == KEN_OK; i++) {
        if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
            st = tok_str_append(out, "[", 1), inside = true;
            continue;
        }
        if (inside && re[i] == ']' && re[i - 1] != '\\') {
            st = tok_str_append(out, "]", 1), inside = false;
            continue;
        }
        if (re[i] == '\\' && i + 3 < n && re[i + 1] == 'p' && re[i + 2] == '{') {
            const char *close = strchr(re + i + 3, '}');
            size_t k = KEN_ARRAY_LEN(k_ucat);
            if (close && (size_t)(close - re) <= i + 10) {
                size_t plen = (size_t)(close - re) - i + 1;
                for (k = 0; k < KEN_ARRAY_LEN(k_ucat); k++)
                    if (strlen(k_ucat[k].name) == plen && !memcmp(k_ucat[k].name, re + i, plen))
                        break;
            }
            if (k < KEN_ARRAY_LEN(k_ucat)) {
                char b = (char)collapse_byte(k_ucat[k].flag);
                const char *ascii = collapse_ascii(k_ucat[k].flag);
                if (!inside) st = tok_str_append(out, "[", 1);
                if (st == KEN_OK) st = tok_str_append(out, &b, 1);
                if (st == KEN_OK) st = tok_str_append(out, ascii, strlen(ascii));
                if (st == KEN_OK && !inside) st = tok_str_append(out, "]", 1);
                i = (size_t)(close - re);
                continue;
            }
        }
        st = tok_str_append(out, re + i, 1);
    }
    return st;
}

static ken_status compile_step(tok_step *s, const char *re, ken_err *err) {
    tok_str pat = { 0 };
    ken_status st = KEN_OK;
    uint32_t opts = PCRE2_DOLLAR_ENDONLY;
    s->kind = TOK_STEP_REGEX;
    s->collapsed = uses_categories(re);
    if (s->collapsed) {
        st = collapse_regex(re, &pat);
        if (st != KEN_OK) return ken_err_set(err, st, "tokenizer: out of memory");
    } else {
        opts |= PCRE2_UTF;
        if ((st = tok_str_append(&pat, re, strlen(re))) != KEN_OK)
            return ken_err_set(err, st, "tokenizer: out of memory");
    }
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.p, pat.n, opts, &ec, &eo, NULL);
    free(pat.p);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return ken_err_set(err, KEN_ERR_INTERNAL, "tokenizer: bad pre-tokenizer regex: %s",
                           (const char *)msg);
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);   /* the interpreter remains if JIT fails */
    s->code = code;
    return KEN_OK;
}

ken_status tok_pretok_init(ken_vocab *v, ken_err *err) {
    const char *name = v->pre_name[0] ? v->pre_name : "default";
    const pretok_def *d = NULL;
    for (size_t i = 0; i < KEN_ARRAY_LEN(k_defs) && !d; i++)
        if (name_in(k_defs[i].names, name)) d = &k_defs[i];
    if (!d)
        return ken_err_set(err, KEN_ERR_UNSUPPORTED, "tokenizer: unknown pre-tokenizer type '%s'",
                           name);
    v->clean_spaces = (d->flags & PT_CLEAN) != 0;
    v->ignore_merges = (d->flags & PT_IGNORE_MERGES) != 0;
    if (d->flags & PT_ADD_BOS) v->add_bos = true;
    if (d->flags & PT_ADD_SEP) v->add_sep = true;
    if (d->flags & PT_NO_BOS_ID) v->sp.bos = -1;
    v->bpe_raw = (d->flags & PT_RAW) != 0;
    v->bpe_nl_words = (d->flags & PT_GEMMA4) != 0;
    v->force_add_bos = (d->flags & PT_GEMMA4) != 0;
    if (d->flags & PT_ESCAPE_WS) v->escape_whitespaces = true;
    if (d->flags & PT_NO_LOWERCASE) v->wpm_lowercase = false;
    v->n_steps = 0;
    v->need_collapse = false;
    for (int i = 0; i < 6 && d->re[i]; i++) {
        tok_step *s = &v->steps[v->n_steps];
        ken_status st;
        if (!strcmp(d->re[i], RE_GPT2)) {
            s->kind = TOK_STEP_GPT2;
        } else if (!strcmp(d->re[i], RE_LLAMA3) || !strcmp(d->re[i], RE_LLAMA3_ORIG)) {
            s->kind = TOK_STEP_LLAMA3, s->word = TOK_CF_LETTER, s->digits_max = 3;
        } else if (!strcmp(d->re[i], RE_QWEN35)) {
            s->kind = TOK_STEP_LLAMA3, s->word = TOK_CF_LETTER | TOK_CF_MARK, s->digits_max = 1;
        } else if ((st = compile_step(s, d->re[i], err)) != KEN_OK) {
            return st;
        }
        v->n_steps++;
        if (s->kind == TOK_STEP_REGEX && s->collapsed) v->need_collapse = true;
    }
    return KEN_OK;
}

void tok_pretok_free(ken_vocab *v) {
    for (int i = 0; i < v->n_steps; i++)
        if (v->steps[i].code) pcre2_code_free((pcre2_code *)v->steps[i].code);
    v->n_steps = 0;
}

/* ------------------------------------------------------------ splitting */

/* A split in progress: the code points and their flags, the fragments (code
 * point counts) of the previous step and those of this one. */
typedef struct {
    const uint32_t *cpts;
    const uint16_t *fl;
    size_t n;
    tok_u32s *out;
    ken_status st;
} splitter;

static void emit(splitter *s, size_t len) {
    if (len && s->st == KEN_OK) s->st = tok_u32s_push(s->out, (uint32_t)len);
}

#define OOR 0xFFFFFFFFu
#define FL(p) ((p) < end ? fl[p] : 0)
#define CP(p) ((p) < end ? cpts[p] : OOR)
#define ADD(e) (emit(s, (e) - prev), prev = (e))

static bool is_contraction(const uint32_t *cpts, size_t pos, size_t end, bool fold,
                           size_t *len) {
    if (cpts[pos] != '\'' || pos + 1 >= end) return false;
    uint32_t a = fold ? tok_cpt_tolower(cpts[pos + 1]) : cpts[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return *len = 2, true;
    if (pos + 2 >= end) return false;
    uint32_t b = fold ? tok_cpt_tolower(cpts[pos + 2]) : cpts[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return *len = 3, true;
    return false;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(splitter *s, size_t ini, size_t end) {
    const uint32_t *cpts = s->cpts;
    const uint16_t *fl = s->fl;
    size_t pos = ini, prev = ini, clen;
    while (pos < end) {
        uint32_t cpt = cpts[pos];
        uint16_t f = fl[pos];
        if (is_contraction(cpts, pos, end, false, &clen)) {
            pos += clen, ADD(pos);
            continue;
        }
        uint16_t f2 = cpt == ' ' ? FL(pos + 1) : f;
        if (f2 & (TOK_CF_LETTER | TOK_CF_NUMBER)) {
            uint16_t want = f2 & TOK_CF_LETTER ? TOK_CF_LETTER : TOK_CF_NUMBER;
            pos += cpt == ' ';
            while (f2 & want) f2 = (++pos, FL(pos));
            ADD(pos);
            continue;
        }
        if (!(f2 & (TOK_CF_SPACE | TOK_CF_LETTER | TOK_CF_NUMBER)) && f2) {
            pos += cpt == ' ';
            while (!(f2 & (TOK_CF_SPACE | TOK_CF_LETTER | TOK_CF_NUMBER)) && f2) f2 = (++pos, FL(pos));
            ADD(pos);
            continue;
        }
        size_t nws = 0;
        while (FL(pos + nws) & TOK_CF_SPACE) nws++;
        if (nws > 1 && CP(pos + nws) != OOR) {
            pos += nws - 1, ADD(pos);
        } else if (nws > 0) {
            pos += nws, ADD(pos);
        } else {
            pos++, ADD(pos);
        }
    }
}

/* Llama 3: (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ and its Qwen 3.5 variant, where \p{M} joins \p{L} in words
 * (and leaves the punctuation class) and numbers go one digit at a time:
 * step->word is the class of word characters, step->digits_max the run cap. */
static void split_llama3(splitter *s, const tok_step *step, size_t ini, size_t end) {
    const uint32_t *cpts = s->cpts;
    const uint16_t *fl = s->fl;
    const uint16_t word = step->word, other = TOK_CF_SPACE | TOK_CF_NUMBER | step->word;
    const size_t dmax = step->digits_max;
    size_t pos = ini, prev = ini, clen;
    while (pos < end) {
        uint32_t cpt = cpts[pos];
        uint16_t f = fl[pos];
        if (is_contraction(cpts, pos, end, true, &clen)) {
            pos += clen, ADD(pos);
            continue;
        }
        if (!(cpt == '\r' || cpt == '\n' || (f & TOK_CF_NUMBER)) &&
            ((f & word) || (FL(pos + 1) & word))) {
            pos++;
            while (FL(pos) & word) pos++;
            ADD(pos);
            continue;
        }
        if (f & TOK_CF_NUMBER) {
            size_t first = pos;
            while (FL(pos) & TOK_CF_NUMBER) {
                if (++pos - first >= dmax) ADD(pos), first = pos;
            }
            ADD(pos);
            continue;
        }
        uint16_t f2 = cpt == ' ' ? FL(pos + 1) : f;
        if (!(f2 & other) && f) {
            pos += cpt == ' ';
            while (!(f2 & other) && f2) f2 = (++pos, FL(pos));
            uint32_t c2 = CP(pos);
            while (c2 == '\r' || c2 == '\n') c2 = (++pos, CP(pos));
            ADD(pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (FL(pos + nws) & TOK_CF_SPACE) {
            uint32_t c2 = CP(pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) {
            pos = last_rn, ADD(pos);
        } else if (nws > 1 && CP(pos + nws) != OOR) {
            pos += nws - 1, ADD(pos);
        } else if (nws > 0) {
            pos += nws, ADD(pos);
        } else {
            pos++, ADD(pos);
        }
    }
}
#undef FL
#undef CP
#undef ADD

/* What PCRE2 matches against: the collapsed bytes (one per code point), or
 * the UTF-8 of the code points with byte <-> code point offset maps. */
typedef struct {
    const unsigned char *collapsed;
    const unsigned char *utf;
    const uint32_t *cp_byte;     /* byte offset of code point i (n + 1) */
    const uint32_t *byte_cp;     /* code point index of byte j (bytes + 1) */
    pcre2_match_data *md;
    pcre2_match_context *mc;
} subject;

/* One fragment [ini, end) through one pattern, like std::regex_iterator:
 * matches and the gaps between them become fragments; after an empty match
 * a non-empty one at the same place is tried before moving on. */
static void split_regex(splitter *s, const tok_step *step, const subject *sj, size_t ini,
                        size_t end) {
    const pcre2_code *code = step->code;
    bool utf = !step->collapsed;
    size_t b0 = utf ? sj->cp_byte[ini] : ini, b1 = utf ? sj->cp_byte[end] : end;
    const unsigned char *p = (utf ? sj->utf : sj->collapsed) + b0;
    size_t len = b1 - b0, off = 0, last = 0;
    uint32_t base_opts = utf ? PCRE2_NO_UTF_CHECK : 0, opts = base_opts;
#define CPS(a, b) (utf ? (size_t)(sj->byte_cp[b0 + (b)] - sj->byte_cp[b0 + (a)]) : (b) - (a))
    while (off <= len && s->st == KEN_OK) {
        int rc = pcre2_match(code, p, len, off, opts, sj->md, sj->mc);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (opts == base_opts) break;
            /* no non-empty match at the empty match's place: step one char */
            opts = base_opts;
            off++;
            while (utf && off < len && (p[off] & 0xC0) == 0x80) off++;
            continue;
        }
        if (rc < 0) {
            s->st = rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
                    rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT
                        ? KEN_ERR_LIMIT : KEN_ERR_INTERNAL;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sj->md);
        size_t ms = ov[0], me = ov[1];
        if (ms > last) emit(s, CPS(last, ms));
        emit(s, CPS(ms, me));
        last = me;
        off = me;
        opts = ms == me ? base_opts | PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : base_opts;
        if (ms == me && me >= len) break;
    }
    if (last < len && s->st == KEN_OK) emit(s, CPS(last, len));
#undef CPS
}

/* Scratch of one pre-tokenization. */
typedef struct {
    tok_u32s cpts, offs, next;
    uint16_t *fl;
    unsigned char *collapsed;
    tok_str utf;
    uint32_t *cp_byte, *byte_cp;
} pretok_scratch;

static void scratch_free(pretok_scratch *x) {
    free(x->cpts.v), free(x->offs.v), free(x->next.v), free(x->fl), free(x->collapsed);
    free(x->utf.p), free(x->cp_byte), free(x->byte_cp);
}

static ken_status build_subjects(const ken_vocab *v, pretok_scratch *x) {
    size_t n = x->cpts.n;
    bool need_utf = false;
    for (int i = 0; i < v->n_steps; i++)
        need_utf |= v->steps[i].kind == TOK_STEP_REGEX && !v->steps[i].collapsed;
    if (v->need_collapse) {
        if (!(x->collapsed = malloc(n + 1))) return KEN_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = x->cpts.v[i];
            uint16_t f = x->fl[i];
            x->collapsed[i] = cp < 128 ? (unsigned char)cp
                              : f & TOK_CF_SPACE ? 0x0B : collapse_byte(f & TOK_CF_CATS);
        }
    }
    if (!need_utf) return KEN_OK;
    if (!(x->cp_byte = malloc((n + 1) * sizeof *x->cp_byte))) return KEN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = x->cpts.v[i];
        char b[4];
        /* std::wregex does not know non-ASCII white space: llama.cpp feeds VT */
        if (cp > 0x7F && (x->fl[i] & TOK_CF_SPACE)) cp = 0x0B;
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        x->cp_byte[i] = (uint32_t)x->utf.n;
        ken_status st = tok_str_append(&x->utf, b, (size_t)tok_utf8_put(cp, b));
        if (st != KEN_OK) return st;
    }
    x->cp_byte[n] = (uint32_t)x->utf.n;
    if (!(x->byte_cp = malloc((x->utf.n + 1) * sizeof *x->byte_cp))) return KEN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = x->cp_byte[i]; j < x->cp_byte[i + 1]; j++) x->byte_cp[j] = (uint32_t)i;
    x->byte_cp[x->utf.n] = (uint32_t)n;
    return KEN_OK;
}

static ken_status run_steps(const ken_vocab *v, pretok_scratch *x, subject *sj) {
    splitter s = { x->cpts.v, x->fl, x->cpts.n, &x->next, KEN_OK };
    for (int k = 0; k < v->n_steps && s.st == KEN_OK; k++) {
        const tok_step *step = &v->steps[k];
        size_t start = 0;
        x->next.n = 0;
        for (size_t f = 0; f < x->offs.n && s.st == KEN_OK; f++) {
            size_t end = start + x->offs.v[f];
            if (step->kind == TOK_STEP_GPT2) split_gpt2(&s, start, end);
            else if (step->kind == TOK_STEP_LLAMA3) split_llama3(&s, step, start, end);
            else split_regex(&s, step, sj, start, end);
            start = end;
        }
        tok_u32s t = x->offs;
        x->offs = x->next, x->next = t;
    }
    return s.st;
}

/* Appends the byte-level image of fragment cpts[a..b) to buf: each UTF-8
 * byte becomes the 1- or 2-byte encoding of its image code point. */
static ken_status encode_word(const uint32_t *cpts, size_t a, size_t b, tok_str *buf) {
    for (size_t i = a; i < b; i++) {
        char u[4], e[8];
        int nu = tok_utf8_put(cpts[i], u), ne = 0;
        for (int k = 0; k < nu; k++) {
            const char *img = tok_byte_image((uint8_t)u[k]);
            e[ne++] = img[0];
            if (img[1]) e[ne++] = img[1];
        }
        if (buf->n + (size_t)ne + 1 > buf->cap) {
            ken_status st = tok_str_reserve(buf, (size_t)ne + 1);
            if (st != KEN_OK) return st;
        }
        memcpy(buf->p + buf->n, e, (size_t)ne);
        buf->n += (size_t)ne;
        buf->p[buf->n] = 0;
    }
    return KEN_OK;
}

/* Appends fragment cpts[a..b) as UTF-8 (the PT_RAW pre-tokenizers). */
static ken_status encode_raw(const uint32_t *cpts, size_t a, size_t b, tok_str *buf) {
    for (size_t i = a; i < b; i++) {
        char u[4];
        ken_status st = tok_str_append(buf, u, (size_t)tok_utf8_put(cpts[i], u));
        if (st != KEN_OK) return st;
    }
    return KEN_OK;
}

ken_status tok_pretokenize(const ken_vocab *v, const char *text, size_t n, tok_str *buf,
                           tok_u32s *words) {
    pretok_scratch x = { 0 };
    subject sj = { 0 };
    ken_status st = KEN_OK;
    buf->n = 0, words->n = 0;
    if (n && !(x.cpts.v = malloc(n * sizeof *x.cpts.v))) { st = KEN_ERR_NOMEM; goto out; }
    x.cpts.cap = n;
    for (size_t i = 0; i < n;) x.cpts.v[x.cpts.n++] = tok_utf8_next(text, n, &i);
    if (x.cpts.n == 0) goto out;
    /* the byte-level image is at most twice the UTF-8 (plus U+FFFD growth) */
    if ((st = tok_str_reserve(buf, 3 * n + 16)) != KEN_OK) goto out;
    if (!(x.fl = malloc(x.cpts.n * sizeof *x.fl))) { st = KEN_ERR_NOMEM; goto out; }
    for (size_t i = 0; i < x.cpts.n; i++) x.fl[i] = tok_cpt_flags(x.cpts.v[i]);
    if ((st = build_subjects(v, &x)) != KEN_OK) goto out;
    sj.collapsed = x.collapsed, sj.utf = (const unsigned char *)x.utf.p;
    sj.cp_byte = x.cp_byte, sj.byte_cp = x.byte_cp;
    if ((st = tok_u32s_push(&x.offs, (uint32_t)x.cpts.n)) != KEN_OK) goto out;
    pcre2_jit_stack *js = NULL;
    for (int k = 0; k < v->n_steps; k++) {
        if (v->steps[k].kind != TOK_STEP_REGEX || sj.md) continue;
        sj.md = pcre2_match_data_create(4, NULL);
        sj.mc = pcre2_match_context_create(NULL);
        js = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL);
        if (!sj.md || !sj.mc || !js) { st = KEN_ERR_NOMEM; break; }
        pcre2_jit_stack_assign(sj.mc, NULL, js);
    }
    if (st == KEN_OK) st = run_steps(v, &x, &sj);
    pcre2_match_data_free(sj.md);
    pcre2_match_context_free(sj.mc);
    pcre2_jit_stack_free(js);
    size_t start = 0;
    for (size_t f = 0; f < x.offs.n && st == KEN_OK; f++) {
        size_t end = start + x.offs.v[f];
        if (end > start) {
            uint32_t w0 = (uint32_t)buf->n;
            st = v->bpe_raw ? encode_raw(x.cpts.v, start, end, buf)
                            : encode_word(x.cpts.v, start, end, buf);
            if (st == KEN_OK) st = tok_u32s_push(words, w0);
            if (st == KEN_OK) st = tok_u32s_push(words, (uint32_t)buf->n);
        }
        start = end;
    }
out:
    scratch_free(&x);
    return st;
}
