/* test_model_jinja.c: the Jinja2 subset, construct by construct: each case's
 * expected output was produced by Python's jinja2 3.1 configured as
 * transformers configures it (trim_blocks, lstrip_blocks, loopcontrols,
 * tojson with ensure_ascii=False, raise_exception); NULL means the reference
 * raised, so ken must fail too. Then errors with their line and column,
 * hostile templates (deep nesting, endless loops, huge outputs, runaway
 * recursion) that must fail cleanly and quickly, and the built-in formats. */
#include "test.h"

#include "base/base.h"
#include "base/json.h"
#include "model/jinja.h"
#include "model/template.h"

struct lang_case {
    const char *tmpl;
    const char *want;   /* NULL: must fail */
};

static const char *const VARS = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi \\u00e9 there\"},{\"role\":\"assistant\",\"content\":\"Hello!\"}],\"n\":3,\"f\":2.5,\"s\":\"  Hello World  \",\"xs\":[3,1,2],\"d\":{\"b\":2,\"a\":1,\"C\":3},\"t\":true,\"none\":null,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"parameters\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}}]}";
static const struct lang_case LANG_CASES[] = {
    {"plain text", "plain text"},
    {"a {{ n }} b", "a 3 b"},
    {"a\n{% if t %}\nyes\n{% endif %}\nb", "a\nyes\nb"},
    {"  {% if t %}x{% endif %}  \n", "x  "},
    {"a  {%- if t -%}  x  {%- endif -%}  b", "axb"},
    {"{{- ' x ' -}}", " x "},
    {"a\n  {# c #}\nb", "a\nb"},
    {"a {{ n -}}\n  b", "a 3b"},
    {"x\n\n", "x\n"},
    {"x\r\ny", "x\ny"},
    {"line\n    {%+ if t %}k{% endif %}", "line\n    k"},
    {"{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
    {"a\n    {%- if t %}b{% endif %}", "ab"},
    {"{{ 1 + 2 * 3 }}", "7"},
    {"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "3 -4 1 2 3.5 1024"},
    {"{{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3 / 3 }} {{ 1e-5 }}", "2.5 0.30000000000000004 1e+20 1.0 1.0 1e-05"},
    {"{{ 'a' ~ 1 ~ none ~ true }}", "a1NoneTrue"},
    {"{{ 'ab' * 3 }}", "ababab"},
    {"{{ [1] + [2, 3] }}", "[1, 2, 3]"},
    {"{{ 'x' + 'y' }}", "xy"},
    {"{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ [1,2] == [1,2] }} {{ 2 != 3 }}", "True True True True True"},
    {"{{ 'b' in 'abc' }} {{ 2 in xs }} {{ 'a' in d }} {{ 5 not in xs }}", "True True True True"},
    {"{{ t and 'y' }} {{ none or 'z' }} {{ not t }} {{ 0 or '' }}|", "y z False |"},
    {"{{ 'yes' if t else 'no' }} {{ 'yes' if none }}|", "yes |"},
    {"{{ (1, 2) }} {{ [1, 'a', none, true, 2.5] }} {{ {'k': 'v', 'n': [1]} }}", "(1, 2) [1, 'a', None, True, 2.5] {'k': 'v', 'n': [1]}"},
    {"{{ \"it's\" }} {{ ['it\\'s', \"q\\\"\"] }}", "it's [\"it's\", 'q\"']"},
    {"{{ 'a\\tb\\n' }}|{{ '\\u00e9\\x41' }}", "a\tb\n|\303\251A"},
    {"{{ 'a' 'b' }}", "ab"},
    {"{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }}", "3 2 [1, 2] [3, 1] [2, 1, 3] [3, 2]"},
    {"{{ s[2:7] }}|{{ s[::-1] }}", "Hello|  dlroW olleH  "},
    {"{{ messages[0]['role'] }} {{ messages[1].content }} {{ d.a }} {{ d['b'] }}", "system Hi \303\251 there 1 2"},
    {"{{ messages[0].missing }}|{{ xs[10] }}|", "||"},
    {"{{ 'h\303\251llo'[1] }} {{ 'h\303\251llo'|length }} {{ 'h\303\251llo'[1:3] }}", "\303\251 5 \303\251l"},
    {"{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }},{% endfor %}", "10TrueFalse33,21FalseFalse32,32FalseTrue31,"},
    {"{% for x in xs %}{{ loop.previtem|default('-') }}>{{ x }}>{{ loop.nextitem|default('-') }} {% endfor %}", "->3>1 3>1>2 1>2>- "},
    {"{% for x in [] %}x{% else %}empty{% endfor %}", "empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "b=2;a=1;C=3;"},
    {"{% for k in d %}{{ k }}{% endfor %}", "baC"},
    {"{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}", "3222"},
    {"{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", "3"},
    {"{% for m in messages %}{{ m.role }}:{{ m.content }}\n{% endfor %}", "system:Be brief.\nuser:Hi \303\251 there\nassistant:Hello!\n"},
    {"{% for c in 'h\303\251j' %}[{{ c }}]{% endfor %}", "[h][\303\251][j]"},
    {"{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}", "012531"},
    {"{% for x in xs %}{% for y in xs %}{{ loop.index }}{% endfor %}/{{ loop.index }} {% endfor %}", "123/1 123/2 123/3 "},
    {"{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}", "aba"},
    {"{% set x = 5 %}{{ x }}", "5"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12"},
    {"{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}", "1"},
    {"{% set ns = namespace(x=1, y='a') %}{% for i in xs %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}{{ ns.y }}", "7a"},
    {"{% set b %}inner {{ n }}{% endset %}[{{ b }}]", "[inner 3]"},
    {"{% set b | upper %}shout{% endset %}{{ b }}", "SHOUT"},
    {"{% if t %}{% set y = 2 %}{% endif %}{{ y }}", "2"},
    {"{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(b=5, a=4) }}", "1-2 1-3 4-5"},
    {"{% macro r(k) %}{% if k > 0 %}{{ k }}{{ r(k - 1) }}{% endif %}{% endmacro %}{{ r(4) }}", "4321"},
    {"{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}body{% endcall %}", "<body>"},
    {"{% macro g() %}{{ n }}{% endmacro %}{% set n = 9 %}{{ g() }}", "9"},
    {"{{ s|trim }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world'|capitalize }}|{{ 'hello wORLD-x'|title }}", "Hello World|  HELLO WORLD  |  hello world  |Hello world|Hello World-X"},
    {"{{ xs|length }} {{ d|length }} {{ s|length }} {{ xs|count }}", "3 3 15 3"},
    {"{{ xs|join(', ') }} {{ xs|first }} {{ xs|last }} {{ xs|sort }} {{ xs|sort(reverse=true) }}", "3, 1, 2 3 2 [1, 2, 3] [3, 2, 1]"},
    {"{{ xs|reverse|list }} {{ [1,2,1,3]|unique|list }} {{ 'abc'|list }} {{ d|list }}", "[2, 1, 3] [1, 2, 3] ['a', 'b', 'c'] ['b', 'a', 'C']"},
    {"{{ missing|default('dflt') }} {{ ''|default('e', true) }} {{ n|d(0) }}", "dflt e 3"},
    {"{{ '3'|int + 1 }} {{ '2.5'|float }} {{ 'x'|int }} {{ 2.7|int }} {{ 3|float }}", "4 2.5 0 2 3.0"},
    {"{{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(0, 'ceil') }}", "2.57 2.0 4.0 3.0"},
    {"{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }}", "[('b', 2), ('a', 1), ('C', 3)] [('a', 1), ('b', 2), ('C', 3)] [('C', 3), ('b', 2), ('a', 1)]"},
    {"{{ 'a-b-a'|replace('a', 'x') }} {{ 'aaa'|replace('a', 'b', 2) }}", "x-b-x bba"},
    {"{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }}", "system,user,assistant 1 ['system', 'assistant']"},
    {"{{ xs|map('string')|join }} {{ ['a','b']|map('upper')|list }} {{ [0,1,2]|select|list }} {{ [1,2,3,4]|reject('odd')|list }}", "312 ['A', 'B'] [1, 2] [2, 4]"},
    {"{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'x\\n'|indent }}", "a\n  b\n\n  c|  a\n  b|x\n"},
    {"{{ xs|string }} {{ 5|string }}", "[3, 1, 2] 5"},
    {"{{ xs|max }} {{ xs|min }} {{ xs|sum }} {{ -3|abs }}", "3 1 6 3"},
    {"{{ '<a & b>'|e }} {{ 'x'|safe }}", "&lt;a &amp; b&gt; x"},
    {"{{ 'one two  three'|wordcount }}", "3"},
    {"{{ tools|tojson }}", "[{\"type\": \"function\", \"function\": {\"name\": \"get\", \"parameters\": {\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\"}}}}}]"},
    {"{{ tools[0]|tojson(indent=2) }}", "{\n  \"type\": \"function\",\n  \"function\": {\n    \"name\": \"get\",\n    \"parameters\": {\n      \"type\": \"object\",\n      \"properties\": {\n        \"q\": {\n          \"type\": \"string\"\n        }\n      }\n    }\n  }\n}"},
    {"{{ {'\303\251': '\303\274', 'n': none, 'f': 1.5, 'b': false, 'l': []}|tojson }}", "{\"\303\251\": \"\303\274\", \"n\": null, \"f\": 1.5, \"b\": false, \"l\": []}"},
    {"{{ 'q\"\\\\\\n\\t\\u0001'|tojson }}", "\"q\\\"\\\\\\n\\t\\u0001\""},
    {"{{ d|tojson(sort_keys=true) }}", "{\"C\": 3, \"a\": 1, \"b\": 2}"},
    {"{{ n is defined }} {{ zz is defined }} {{ zz is undefined }} {{ none is none }} {{ s is string }} {{ d is mapping }}", "True False True True True True"},
    {"{{ xs is sequence }} {{ s is iterable }} {{ n is number }} {{ f is float }} {{ n is integer }} {{ t is true }} {{ t is false }} {{ t is boolean }}", "True True True True True True False True"},
    {"{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ n is equalto 3 }} {{ n is not equalto 3 }} {{ 'ab' is lower }}", "True False True True True False True"},
    {"{{ n is gt 2 }} {{ n is le 2 }}", "True False"},
    {"{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}", "Hello World|Hello World  |  Hello World|a"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c']"},
    {"{{ s.startswith('  H') }} {{ s.endswith('d  ') }} {{ 'abc'.startswith(('x', 'a')) }}", "True True True"},
    {"{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello there'.title() }} {{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'aXbX'.replace('X', '-') }}", "HELLO hello Hello There 2 -1 a-b-"},
    {"{{ '{} and {}'.format('a', 'b') }} {{ '{x}!'.format(x=1) }} {{ 'ab'.count('b') }} {{ '-'.join(['a', 'b']) }}", "a and b 1! 1 a-b"},
    {"{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 7) }} {{ d.keys()|list }} {{ d.values()|list }}", "1 None 7 ['b', 'a', 'C'] [2, 1, 3]"},
    {"{{ '</think>x'.split('</think>')[-1] }}", "x"},
    {"{{ '  x\\n'.rstrip('\\n') }}|", "  x|"},
    {"{{ false|select|list }} {{ none|map(attribute='x')|list }} {{ ''|reject|list }}", "[] [] []"},
    {"{{ d is lower }} {{ '0' is lower }} {{ 'aB' is upper }} {{ 'AB1' is upper }}", "False False False True"},
    {"{{ 2.5 is odd }} {{ 3.0 is odd }} {{ 4.0 is even }}", "False True True"},
    {"{{ 1|round }} {{ true|round(1) }} {{ 2.5|round }} {{ 7|round(0, 'floor') }}", "1 1 2.0 7.0"},
    {"{{ '%s and %s' % (1, 'b') }} {{ '%d%%' % 5 }} {{ 'x' % [1] }} {{ '%(k)s' % {'k': 2} }} {{ '%.2f' % 2.5 }}", "1 and b 5% x 2 2.50"},
    {"{% for k in [1,2] %}{% continue %}{% else %}E{% endfor %}|{% for k in [1,2] %}{{ k }}{% else %}E{% endfor %}|{% for k in [1] %}{% break %}{% else %}E{% endfor %}", "E|12|E"},
    {"{{ [zz, 1] }}", "[Undefined, 1]"},
    {"{{ 'x' % 5 }}", NULL},
    {"{{ xs|indent }}", NULL},
    {"{{ zz|int }}", NULL},
    {"{{ d in d }}", NULL},
    {"{{ zz|float }}", NULL},
    {"{% for x in [1] %}[{{ s }}]{% endfor %}{% set s = 1 %}", "[]"},
    {"{% for x in [1] if s %}A{% endfor %}{% set s = 1 %}{{ s }}", "1"},
    {"{% if false %}{% set s = 1 %}{% endif %}{% for x in [1] %}[{{ s }}]{% endfor %}", "[  Hello World  ]"},
    {"{% if t %}{% set n = 1 %}{% else %}{% set n = 2 %}{% endif %}{% for x in [1] %}[{{ n }}]{% endfor %}", "[1]"},
    {"{% for i in [1,2] %}{% if i == 2 %}[{{ x }}]{% endif %}{% set x = i %}{% endfor %}", "[]"},
    {"{% set x = 9 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}", "[9][9]9"},
    {"{% for i in xs %}{% else %}{% set s = 1 %}{% endfor %}{% for i in [1] %}[{{ s }}]{% endfor %}", "[  Hello World  ]"},
    {"{% set ns = namespace(a=1) %}{{ ns }} {{ ns is mapping }} {{ zz is sequence }}", "<Namespace {'a': 1}> False True"},
    {"{% for x in xs %}{{ loop }}{% endfor %}", "<LoopContext 1/3><LoopContext 2/3><LoopContext 3/3>"},
    {"{{ ns|tojson }}", NULL},
    {"{{ [{'a': 1}]|sum }}", NULL},
    {"{{ 'abc'|map(attribute='x')|list|selectattr('y')|list }}", NULL},
    {"{{ d|tojson(separators=(',', ':')) }} {{ '\303\251\360\237\230\200\342\200\250'|tojson(ensure_ascii=true) }} {{ xs|tojson(indent=1, separators=(';', '=')) }} {{ {'\303\251': 1}|tojson(ensure_ascii=true, sort_keys=true) }}", "{\"b\":2,\"a\":1,\"C\":3} \"\\u00e9\\ud83d\\ude00\\u2028\" [\n 3;\n 1;\n 2\n] {\"\\u00e9\": 1}"},
    {"{{ '%s-%s'|format(1, 'b') }} {{ '%(a)s'|format(a=3) }} {{ 'a-b-c'.rsplit('-', 1) }} {{ 'a-b-c'.rsplit('-', 0) }} {{ '-a-'.rsplit('-', 5) }} {{ 'a b'.rsplit() }}", "1-b 3 ['a-b', 'c'] ['a-b-c'] ['', 'a', ''] ['a', 'b']"},
    {"{{ [1, 'a b']|wordcount }} {{ 'x_y z-9 \303\251'|wordcount }} {{ ''|wordcount }}", "3 4 0"},
    {"{{ raise_exception('boom') }}", NULL},
    {"{{ zz.attr }}", NULL},
    {"{{ 1 + 'a' }}", NULL},
    {"{{ 1 // 0 }}", NULL},
    {"{% for %}", NULL},
    {"{% if t %}", NULL},
    {"{{ x | nosuchfilter }}", NULL},
    {"{% endif %}", NULL},
    {"{{ 'a' < 1 }}", NULL},
    {"{% macro m(a) %}{% endmacro %}{{ m(1)(2) }}", NULL},
    {"{{ none.x }}", ""},
    {"{% set ns = namespace() %}{% set d.x = 1 %}", NULL},
    {"{{ (1, 2) + }}", NULL},
    {"{% include 'x' %}", NULL},
    {"{{ none[0] }}", ""},
    {"{{ 1 is nosuchtest }}", NULL},
};

/* Renders tmpl with vars_json; returns the status, output in *out (malloc). */
static ken_status render(const char *tmpl, const char *vars_json, const ken_jinja_limits *lim,
                         char **out, ken_err *err) {
    ken_jinja_tmpl *t = NULL;
    ken_json_doc *d = NULL;
    ken_buf b;
    ken_buf_init(&b, 0);
    *out = NULL;
    ken_status st = ken_jinja_parse(tmpl, strlen(tmpl), &t, err);
    if (!st && vars_json) st = ken_json_parse(vars_json, strlen(vars_json), NULL, &d, NULL, err);
    const ken_json *vars[1] = {d ? ken_json_root(d) : NULL};
    if (!st) st = ken_jinja_render(t, vars, 1, lim, &b, err);
    if (!st) {
        ken_buf_reserve(&b, 1);
        *out = ken_buf_take(&b, NULL);
    }
    ken_buf_free(&b);
    ken_jinja_free(t);
    ken_json_free(d);
    return st;
}

static void test_language(void) {
    int ok = 0;
    for (size_t i = 0; i < KEN_ARRAY_LEN(LANG_CASES); i++) {
        const struct lang_case *lc = &LANG_CASES[i];
        char *out;
        ken_err err = {{0}};
        ken_status st = render(lc->tmpl, VARS, NULL, &out, &err);
        if (lc->want) {
            CHECKF(st == KEN_OK && strcmp(out, lc->want) == 0, "case %zu %s: got \"%s\" (%s), want \"%s\"",
                   i, lc->tmpl, out ? out : "", err.msg, lc->want);
            ok += st == KEN_OK && strcmp(out, lc->want) == 0;
        } else {
            CHECKF(st != KEN_OK, "case %zu %s: must fail, rendered \"%s\"", i, lc->tmpl, out ? out : "");
            CHECKF(st == KEN_OK || strstr(err.msg, "line 1, column") != NULL, "case %zu: no location in \"%s\"", i, err.msg);
            ok += st != KEN_OK;
        }
        free(out);
    }
    fprintf(stderr, "language cases: %d of %zu agree with jinja2\n", ok, KEN_ARRAY_LEN(LANG_CASES));
}

static void test_errors(void) {
    char *out;
    ken_err err = {{0}};
    CHECK_EQ_INT(render("a\nb {{ 1 +\n }}", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
    CHECKF(strstr(err.msg, "line 3, column") != NULL, "%s", err.msg);
    CHECK_EQ_INT(render("x\n  {% if true %}\n{{ raise_exception('nope: ' ~ 3) }}{% endif %}", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
    CHECKF(strstr(err.msg, "line 3, column") && strstr(err.msg, KEN_JINJA_RAISE_PREFIX "nope: 3"), "%s", err.msg);
    CHECK_EQ_INT(render("{% for x in y %}", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
    CHECKF(strstr(err.msg, "endfor") != NULL, "%s", err.msg);
    CHECK_EQ_INT(render("{{ 'unterminated }}", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
    CHECK_EQ_INT(render("{# open comment", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
    CHECK_EQ_INT(render("{% extends 'base' %}", NULL, NULL, &out, &err), KEN_ERR_UNSUPPORTED);
    CHECK_EQ_INT(render("{{ x|frobnicate }}", NULL, NULL, &out, &err), KEN_ERR_UNSUPPORTED);
    CHECK_EQ_INT(render("{{ 9223372036854775807 + 1 }}", NULL, NULL, &out, &err), KEN_ERR_UNSUPPORTED);
    CHECK_EQ_INT(render("{{ 99999999999999999999 }}", NULL, NULL, &out, &err), KEN_ERR_UNSUPPORTED);
    CHECK_EQ_INT(render("{{ x }}", "[1]", NULL, &out, &err), KEN_ERR_INVALID);
    /* strftime_now: the local time in a strftime format */
    CHECK_EQ_INT(render("{{ strftime_now('%Y-%m-%d')|length }} {{ strftime_now('%Y')|int > 2000 }}", NULL, NULL, &out, &err), KEN_OK);
    CHECK_EQ_STR(out, "10 True");
    free(out);
    CHECK_EQ_INT(render("{{ strftime_now(3) }}", NULL, NULL, &out, &err), KEN_ERR_FORMAT);
}

/* Hostile templates end with an error quickly, never a crash or a hang. */
static void test_hostile(void) {
    char *out = NULL;
    ken_err err = {{0}};
    size_t n = 100000;
    char *deep = malloc(n * 2 + 16);
    REQUIRE(deep);
    /* deep parentheses, lists, ifs, filters */
    static const char *const opens[] = {"(", "[", "-", "not "};
    for (size_t k = 0; k < KEN_ARRAY_LEN(opens); k++) {
        size_t o = 0, l = strlen(opens[k]);
        o += (size_t)sprintf(deep, "{{ ");
        for (size_t i = 0; i < 2000; i++) memcpy(deep + o, opens[k], l), o += l;
        strcpy(deep + o, "1 }}");
        ken_status st = render(deep, NULL, NULL, &out, &err);
        CHECKF(st == KEN_ERR_LIMIT, "nesting with '%s': status %d %s", opens[k], (int)st, err.msg);
        free(out);
    }
    size_t o = 0;
    for (size_t i = 0; i < 1000; i++) o += (size_t)sprintf(deep + o, "{%% if true %%}");
    deep[o] = 0;
    CHECK_EQ_INT(render(deep, NULL, NULL, &out, &err), KEN_ERR_LIMIT);
    free(deep);
    /* endless-ish loops: steps are bounded (a hang would hit ctest's timeout;
     * speed is not checked here) */
    ken_jinja_limits lim = {.steps_max = 2000000};
    CHECK_EQ_INT(render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                        NULL, &lim, &out, &err), KEN_ERR_LIMIT);
    CHECK_EQ_INT(render("{{ range(1000000000) }}", NULL, NULL, &out, &err), KEN_ERR_LIMIT);
    /* runaway recursion */
    CHECK_EQ_INT(render("{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}", NULL, NULL, &out, &err), KEN_ERR_LIMIT);
    /* huge outputs: doubling strings, repetition, output cap */
    CHECK_EQ_INT(render("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                        NULL, NULL, &out, &err), KEN_ERR_LIMIT);
    CHECK_EQ_INT(render("{{ 'x' * 9000000000000 }}", NULL, NULL, &out, &err), KEN_ERR_LIMIT);
    ken_jinja_limits small = {.out_max = 1000};
    CHECK_EQ_INT(render("{% for i in range(10000) %}abc{% endfor %}", NULL, &small, &out, &err), KEN_ERR_LIMIT);
    ken_jinja_limits mem = {.mem_max = 1 << 20};
    CHECK_EQ_INT(render("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
                        NULL, &mem, &out, &err), KEN_ERR_LIMIT);
    /* invalid UTF-8 and NUL bytes in the template pass through as bytes */
    ken_jinja_tmpl *t = NULL;
    CHECK_EQ_INT(ken_jinja_parse("a\0b\xff{{ 1 }}", 11, &t, &err), KEN_OK);
    ken_buf b;
    ken_buf_init(&b, 0);
    CHECK_EQ_INT(ken_jinja_render(t, NULL, 0, NULL, &b, &err), KEN_OK);
    CHECK(b.len == 5 && memcmp(b.data, "a\0b\xff" "1", 5) == 0);
    ken_buf_free(&b);
    ken_jinja_free(t);
}

static void test_builtin_formats(void) {
    const char *msgs = "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\" U \"},"
                       "{\"role\":\"assistant\",\"content\":\"A\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"V\"}]}]";
    static const struct { const char *fmt, *want; } cases[] = {
        {"chatml", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n U <|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
                   "<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n"},
        {"llama3", "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nV<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {"gemma", "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n<start_of_turn>user\nV<end_of_turn>\n"
                  "<start_of_turn>model\n"},
        {"phi3", "<|system|>\nS<|end|>\n<|user|>\n U <|end|>\n<|assistant|>\nA<|end|>\n<|user|>\nV<|end|>\n<|assistant|>\n"},
        {"mistral", "<s>[INST]S\n\n U [/INST]A</s>[INST]V[/INST]"},
    };
    for (size_t i = 0; i < KEN_ARRAY_LEN(cases); i++) {
        char *out = NULL, *msg = NULL;
        size_t n;
        ken_status st = ken_chat_render_builtin(cases[i].fmt, msgs, 1, "<s>", "</s>", &out, &n, &msg);
        CHECKF(st == KEN_OK && strcmp(out, cases[i].want) == 0, "%s: got \"%s\" (%s)", cases[i].fmt, out ? out : "", msg ? msg : "");
        ken_free(out);
        ken_free(msg);
    }
    char *out = NULL, *msg = NULL;
    size_t n;
    CHECK_EQ_INT(ken_chat_render_builtin("nope", msgs, 1, NULL, NULL, &out, &n, &msg), KEN_ERR_NOTFOUND);
    ken_free(msg);
    CHECK_EQ_INT(ken_chat_render_builtin("chatml", "{\"role\":1}", 1, NULL, NULL, &out, &n, &msg), KEN_ERR_INVALID);
    ken_free(msg);
    CHECK_EQ_STR(ken_chat_detect_format("{{ '<|start_header_id|>' }}"), "llama3");
    CHECK_EQ_STR(ken_chat_detect_format("<start_of_turn>"), "gemma");
    CHECK_EQ_STR(ken_chat_detect_format("[INST]"), "mistral");
    CHECK_EQ_STR(ken_chat_detect_format("<|user|>x<|end|>"), "phi3");
    CHECK_EQ_STR(ken_chat_detect_format("nothing known"), "chatml");
    /* the public render: variables, extra kwargs override, raise_exception */
    CHECK_EQ_INT(ken_chat_render("{{ bos_token }}{{ messages|length }}{{ tools is none }}{{ x }}", "[]", 1, "B", "E",
                                 "{\"x\": 7}", &out, &n, &msg), KEN_OK);
    CHECK_EQ_STR(out, "B0True7");
    ken_free(out);
    CHECK_EQ_INT(ken_chat_render("{{ raise_exception('no system') }}", "[]", 1, NULL, NULL, NULL, &out, &n, &msg), KEN_ERR_FORMAT);
    CHECKF(msg && strstr(msg, "no system"), "%s", msg ? msg : "");
    CHECK(out == NULL);
    ken_free(msg);
    CHECK_EQ_INT(ken_chat_render("x", "[", 1, NULL, NULL, NULL, &out, &n, &msg), KEN_ERR_FORMAT);
    ken_free(msg);
}

TEST_MAIN(test_language, test_errors, test_hostile, test_builtin_formats)
