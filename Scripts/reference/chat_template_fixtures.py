"""Render chat templates with Python jinja2 exactly as transformers configures it, for the ChatTemplates tests.

Writes two fixtures into Tests/Fixtures/templates/:
  expected.json  — for every .assets/templates/*.jinja and each fixed conversation: the rendered string, or the
                   error (exception type and message) it raised. The conversations themselves are stored too, so
                   the Swift test renders exactly the same inputs.
  features.json  — small language-feature cases (template source + context) with jinja2's output or error.

The environment is transformers' own (`_compile_jinja_template`: ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks, loopcontrols, its tojson, raise_exception, dict, namespace), with `strftime_now` pinned to
2025-07-26 14:30:05 by replacing the module's `datetime`.

Run (after Scripts/fetch-assets):  /work/refvenv/bin/python Scripts/reference/chat_template_fixtures.py
"""
import datetime as _dt
import json
import pathlib

import jinja2
import transformers
import transformers.utils.chat_template_utils as ctu

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / ".assets" / "templates"
OUT = ROOT / "Tests" / "Fixtures" / "templates"
FIXED_NOW = _dt.datetime(2025, 7, 26, 14, 30, 5)


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FixedDatetime

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    }
]

TOOL_CALL = {
    "id": "abc123DEF",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
}

CONVERSATIONS = {
    "system_multi_turn": {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello! What is 2+2?"},
            {"role": "assistant", "content": "2+2 is 4."},
            {"role": "user", "content": "And times 3?"},
        ],
        "add_generation_prompt": True,
    },
    "no_system": {
        "messages": [
            {"role": "user", "content": "Write a haiku about the sea."},
            {"role": "assistant", "content": "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide breathes and sleeps."},
        ],
        "add_generation_prompt": False,
    },
    "single_user_prompt": {
        "messages": [{"role": "user", "content": "  Tell me a joke, \"please\" — café ünïcode 😀  "}],
        "add_generation_prompt": True,
    },
    "long_chat": {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "Of Italy?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": "Of Spain?"},
            {"role": "assistant", "content": "Madrid."},
        ],
        "add_generation_prompt": False,
    },
    "tool_call_turn": {
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "abc123DEF", "name": "get_weather", "content": "{\"temperature\": 21, \"condition\": \"sunny\"}"},
            {"role": "assistant", "content": "It is 21 °C and sunny in Paris."},
        ],
        "tools": TOOLS,
        "add_generation_prompt": False,
    },
    "tools_prompt": {
        "messages": [{"role": "user", "content": "Is it raining in Oslo?"}],
        "tools": TOOLS,
        "add_generation_prompt": True,
    },
}

BOS, EOS = "<s>", "</s>"


def render_template(source, conversation):
    rendered, _ = ctu.render_jinja_template(
        conversations=[conversation["messages"]],
        tools=conversation.get("tools"),
        chat_template=source,
        add_generation_prompt=conversation["add_generation_prompt"],
        bos_token=BOS,
        eos_token=EOS,
    )
    return rendered[0]


def outcome(render):
    try:
        return {"output": render()}
    except Exception as error:  # the Swift side must raise too; raise_exception messages must match exactly
        result = {"error": type(error).__name__, "message": str(error)}
        if getattr(error, "lineno", None) is not None:
            result["line"] = error.lineno
        return result


def template_results():
    results = {}
    for path in sorted(TEMPLATES.glob("*.jinja")):
        source = path.read_text(encoding="utf-8")
        results[path.name] = {
            name: outcome(lambda c=conv: render_template(source, c)) for name, conv in CONVERSATIONS.items()
        }
    return results


# (name, template, context). Outputs come only from jinja2; nothing here states an expected string.
FEATURES = [
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_filter_iterable", "{% for x in items | reverse %}{{ x }}{% endfor %}", {"items": [1, 2, 3]}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_if", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }} {% endfor %}", {}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("set_and_scope", "{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("set_block", "{% set x %}Hello {{ name }}!{% endset %}[{{ x }}]", {"name": "Bob"}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c + d }}", {}),
    ("namespace", "{% set ns = namespace(total=0, seen=false) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }} {{ ns.seen }}", {}),
    ("macro_call", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}", {}),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("macro_varargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("raw", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}", {}),
    ("comment", "a{# a comment #}b{#- trimmed -#}   c", {}),
    ("whitespace_control", "<  {%- if true -%}  x  {%- endif -%}  >\n  {{- 'y' -}}  \n", {}),
    ("trim_lstrip_blocks", "<ul>\n    {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n", {}),
    ("lstrip_disabled_with_plus", "a\n    {%+ if true %}b{% endif %}\nc", {}),
    ("trailing_newline", "line\n\n", {}),
    ("tests_types", "{% for v in [1, 1.5, 'a', [1], {'a': 1}, none, true, undef] %}{{ v is defined }}{{ v is none }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is boolean }}{{ v is true }}{{ v is false }};{% endfor %}", {}),
    ("tests_misc", "{{ undef is undefined }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ 2 is in [1, 2] }}{{ 2 is equalto 2 }}{{ 2 is eq 3 }}{{ 2 is ne 3 }}{{ range is callable }}{{ 1 is not none }}{{ 'x' not in 'abc' }}", {}),
    ("literals", "{{ 'a\\'b\\n\\tc' }}|{{ \"d\\\"e\" }}|{{ 12 }}|{{ 1.5 }}|{{ [1, 'x', none, true] }}|{{ (1, 2) }}|{{ {'k': [1, {'n': 2.0}]} }}|{{ True }}{{ False }}{{ None }}|{{ (1,) }}|{{ 1e3 }}|{{ 1_000 }}", {}),
    ("attribute_subscript", "{{ m.role }} {{ m['content'] }} [{{ m.missing }}]|{{ xs[0] }}{{ xs[-1] }} {{ m.get('role') }} {{ m.get('nope', 'dflt') }}", {"m": {"role": "user", "content": "hi"}, "xs": [1, 2, 3]}),
    ("undefined_attribute_error", "{{ m.missing.deeper }}", {"m": {"role": "user"}}),
    ("undefined_variable_error", "{{ nothing + 1 }}", {}),
    ("none_iteration_error", "{% for x in none_value %}{% endfor %}", {"none_value": None}),
    ("sandbox_dict_pop", "{{ d.pop('a') }}", {"d": {"a": 1}}),
    ("slicing", "{{ s[1:3] }}|{{ s[::-1] }}|{{ s[:-1] }}|{{ xs[1:] }}|{{ xs[::2] }}|{{ xs[-2:] }}", {"s": "hello", "xs": [1, 2, 3, 4, 5]}),
    ("arithmetic", "{{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2 * 3 }} {{ 'ab' * 3 }} {{ 'a' ~ 1 ~ none }} {{ [1] + [2] }} {{ 0.1 + 0.2 }} {{ 1e20 * 10 }} {{ 1 / 3 }} {{ 10 - 2.5 }} {{ -3 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }}", {}),
    ("comparisons", "{{ 1 < 2 }}{{ 2 <= 2 }}{{ 'a' < 'b' }}{{ [1, 2] == [1, 2] }}{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 'a' == 'a' }}{{ none == none }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}", {}),
    ("logic", "{{ true and false }}{{ true or false }}{{ not true }}{{ 0 or 'x' }}{{ '' and 'y' }}{{ [] or {} }}{{ none or 0 }}{{ 1 and 2 }}", {}),
    ("conditional_expr", "[{{ 'a' if true else 'b' }}][{{ 'a' if false else 'b' }}][{{ 'a' if false }}]", {}),
    ("membership", "{{ 'ell' in 'hello' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in {'k': 1} }}", {}),
    ("truthiness", "{% for v in ['', 'a', [], [0], {}, {'a': 1}, 0, 1, 0.0, none, undef] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("printing", "{{ none }}|{{ true }}|{{ ['a', \"b'c\", 'd\"e', 1.0, none] }}|{{ {'a': 1, 'b': 'x'} }}|{{ undef }}|{{ 1.0 }}|{{ 1e16 }}|{{ 1.5e-7 }}|{{ 123456789.123 }}|{{ ns }}", {"ns": 2}),
    ("string_methods", "{{ ' x '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aBc'.upper() }}{{ 'aBc'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'hello'.find('l') }}|{{ 'hello'.count('l') }}|{{ '-'.join(['a', 'b']) }}|{{ '{} and {}'.format(1, 'x') }}|{{ 'a\\nb'.splitlines() }}|{{ 'abc'.rsplit('b') }}", {}),
    ("dict_methods", "{{ d.items() | list }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('a') }}|{{ d.get('x') }}", {"d": {"b": 2, "a": 1}}),
    ("filters_strings", "{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}|{{ 'aXbX' | replace('X', '-') }}|{{ 'x' | center(7) }}|{{ 'one two  three' | wordcount }}|{{ 'abcdefghijklmnopqrstuvwxyz' | truncate(10) }}|{{ 123 | string }}|{{ '<a>' | safe }}|{{ 'xxyxx' | trim('x') }}", {}),
    ("filters_sequences", "{{ [3, 1, 2] | length }} {{ [3, 1, 2] | count }} {{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ [1, 2, 1] | unique | list }} {{ [1, 2] | reverse | list }} {{ [1, 2, 3] | join('-') }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | sum }} {{ 'abc' | list }} {{ 'abc' | reverse }} {{ [1, 2, 3, 4, 5] | batch(2) | list }}", {}),
    ("filters_attr", "{{ users | selectattr('active') | map(attribute='name') | list }} {{ users | rejectattr('active') | map(attribute='name') | join(',') }} {{ users | selectattr('name', 'equalto', 'b') | list | length }} {{ users | sort(attribute='age') | map(attribute='name') | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ['a', 'B'] | map('upper') | list }} {{ users | map(attribute='missing', default='?') | list }}", {"users": [{"name": "a", "active": True, "age": 30}, {"name": "b", "active": False, "age": 20}, {"name": "c", "active": True, "age": 25}]}),
    ("filters_numbers", "{{ '42' | int }} {{ '4.5' | float }} {{ 4.7 | int }} {{ 'x' | int }} {{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ 2.7 | round(0, 'floor') }} {{ -3 | abs }} {{ 3 | float }}", {}),
    ("filters_default", "{{ undef | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ undef | d('x') }} {{ 'v' | default('d') }} {{ false | default('d', boolean=true) }}", {}),
    ("filters_dict", "{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | length }} {% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}", {"d": {"b": 2, "a": 1, "C": 3}}),
    ("filter_indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}", {}),
    ("tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é<\"' | tojson }}|{{ [1, 2.5, none, true] | tojson }}|{{ d | tojson(sort_keys=true) }}|{{ 1.0 | tojson }}", {"d": {"z": "é", "a": [1, {"b": None}], "m": {}}}),
    ("globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }} {{ dict(a=1, b='x') }} {{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %B %a %A %j %y %I %p') }}", {}),
    ("raise_exception", "{% if true %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}", {}),
    ("sandbox_append", "{% set xs = [1] %}{{ xs.append(2) }}{{ xs }}", {}),
    ("undefined_iteration", "[{% for x in undef %}{{ x }}{% endfor %}][{{ undef | length if undef is defined else 'u' }}]", {}),
    ("mixed_compare_error", "{{ 1 < 'a' }}", {}),
    ("unknown_filter", "line one\n{{ 'x' | nosuchfilter }}", {}),
    ("string_escapes_in_output", "{{ \"it's\" }} {{ 'say \"hi\"' }} {{ ['it\\'s'] }} {{ ['a\\nb', 'a\\\\b'] }}", {}),
    ("nested_macros_scope", "{% set g = 'G' %}{% macro outer() %}{% macro inner() %}[{{ g }}]{% endmacro %}{{ inner() }}{% endmacro %}{{ outer() }}", {}),
    ("generation_tag", "{% for m in messages %}{% generation %}{{ m }}{% endgeneration %}{% endfor %}", {"messages": ["a", "b"]}),
    ("loop_in_loop", "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("items_filter_on_list", "{{ {'a': 1} | items | list }} {{ {'a': [1, 2]}['a'] | length }}", {}),
    ("string_concat_number", "{{ 'n' ~ 1.5 ~ true }} {{ 'a' + 'b' }}", {}),
    ("string_add_number_error", "{{ 'a' + 1 }}", {}),
    ("generators_are_truthy", "{{ 'yes' if ([] | select('odd')) else 'no' }} {{ ([1] | map('string')) is sequence }} {{ ([1] | map('string')) is iterable }} {{ [1, 2] | map('string') | join(',') }} {{ [3, 1] | reverse | first }}", {}),
    ("generator_tojson_error", "{{ [1, 2] | map('string') | tojson }}", {}),
    ("generator_length_error", "{{ [1, 2] | select('odd') | length }}", {}),
    ("unknown_filter_in_if_is_deferred", "{% if false %}{{ x | nosuchfilter }}{% endif %}ok", {}),
    ("unknown_filter_in_if_runs", "{% if true %}{{ 'x' | nosuchfilter }}{% endif %}", {}),
    ("markup_escapes_on_concat", "{{ 'a<' | safe + '<b>' }} {{ '<i>' + '&' | safe }} {{ '<x>' | e }} {{ ('<' | e) | e }} {{ '<' | safe ~ '<' }} {{ ('q' | safe) is string }} {{ 'x' | safe == 'x' }}", {}),
    ("divide_by_zero", "{{ 1 / 0 }}", {}),
]


def features():
    results = []
    for name, source, context in FEATURES:
        result = outcome(lambda: ctu._compile_jinja_template(source).render(**context))
        results.append({"name": name, "template": source, "context": context, **result})
    return results


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {
        "jinja2_version": jinja2.__version__,
        "transformers_version": transformers.__version__,
        "now": FIXED_NOW.isoformat(),
        "bos_token": BOS,
        "eos_token": EOS,
        "conversations": CONVERSATIONS,
        "results": template_results(),
    }
    (OUT / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    feature_file = {"jinja2_version": jinja2.__version__, "now": FIXED_NOW.isoformat(), "cases": features()}
    (OUT / "features.json").write_text(json.dumps(feature_file, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
