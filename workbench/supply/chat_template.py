"""Judge a Jinja chat template (GGUF `tokenizer.chat_template`, tokenizer_config.json) without
rendering it: is it plain formatting (loops and conditions over messages, printing fields), or
does it reach for features that execute code (dunder attributes, the `attr` filter, globals such
as `cycler`/`lipsum`/`self`, imports and includes)?

The check is lexical and deliberately conservative: a construct it does not know is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"\{\{-?(.*?)-?\}\}|\{%-?(.*?)-?%\}", re.S)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_IDENT = re.compile(r"(\.|\|)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\()?")

# Statements a plain formatting template uses.
PLAIN_STATEMENTS = {"for", "endfor", "if", "elif", "else", "endif", "set", "endset"}
# Names it reads or calls.
PLAIN_NAMES = {
    "messages", "message", "add_generation_prompt", "bos_token", "eos_token", "pad_token",
    "unk_token", "tools", "tool", "documents", "loop", "ns", "namespace", "raise_exception",
    "range", "true", "false", "none", "True", "False", "None", "system_message", "content",
    "role", "in", "not", "and", "or", "is", "if", "else", "defined", "string", "mapping",
    "iterable", "sequence", "number", "divisibleby", "equalto", "odd", "even", "strftime_now",
    "date_string", "tools_in_user_message", "builtin_tools", "custom_tools", "tool_call",
    "tool_calls", "function", "arguments", "name", "first", "last", "index", "index0", "length",
    "revindex", "revindex0", "previtem", "nextitem",
}
PLAIN_ATTRS = {
    "role", "content", "name", "items", "keys", "values", "get", "strip", "lstrip", "rstrip",
    "split", "startswith", "endswith", "upper", "lower", "title", "capitalize", "replace",
    "first", "last", "index", "index0", "length", "revindex", "revindex0", "tool_calls",
    "function", "arguments", "type", "text", "append", "join", "count", "find",
}
PLAIN_FILTERS = {
    "trim", "length", "count", "tojson", "string", "upper", "lower", "title", "capitalize",
    "default", "d", "first", "last", "join", "replace", "list", "int", "float", "abs", "round",
    "items", "selectattr", "rejectattr", "select", "reject", "map", "unique", "sort", "reverse",
    "safe", "escape", "e", "indent", "wordcount", "truncate", "center", "batch", "slice", "sum",
    "min", "max", "dictsort", "groupby", "striptags",
}
# Jinja globals and statements that reach Python objects or other templates.
DANGEROUS_NAMES = {
    "cycler", "joiner", "lipsum", "self", "config", "request", "session", "g", "url_for",
    "get_flashed_messages", "range_", "dict", "os", "import", "__import__", "eval", "exec",
    "getattr", "setattr", "globals", "locals", "vars", "open",
}
DANGEROUS_STATEMENTS = {"import", "from", "include", "extends", "macro", "call", "filter",
                        "block", "with", "do", "raw"}
DANGEROUS_FILTERS = {"attr", "format", "xmlattr", "pprint", "map_attr"}


@dataclass
class TemplateFinding:
    severity: str  # 'high' | 'medium'
    construct: str  # what was found, e.g. '__globals__', '|attr', 'import'
    offset: int


def analyze(template: str) -> list[TemplateFinding]:
    """Constructs beyond plain formatting, in template order (empty list: plain)."""
    out: list[TemplateFinding] = []
    seen: set[str] = set()

    def add(sev: str, construct: str, off: int) -> None:
        if construct not in seen:
            seen.add(construct)
            out.append(TemplateFinding(sev, construct, off))

    for m in _TAG.finditer(template):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        is_stmt = m.group(2) is not None
        off = m.start()
        code = _STRING.sub("''", body)
        # anything dunder, even inside strings (used with |attr or subscripts)
        for d in re.findall(r"__\w+__", body):
            add("high", d, off)
        if is_stmt:
            words = code.split()
            kw = words[0] if words else ""
            if kw in DANGEROUS_STATEMENTS:
                add("high", kw, off)
            elif kw and kw not in PLAIN_STATEMENTS:
                add("medium", kw, off)
        for im in _IDENT.finditer(code):
            prefix, ident, call = im.group(1), im.group(2), im.group(3)
            if prefix == ".":
                if ident.startswith("_"):
                    add("high", f".{ident}", off)
                elif call and ident not in PLAIN_ATTRS:  # reading a field is fine, calling odd methods is not
                    add("medium", f".{ident}()", off)
            elif prefix == "|":
                if ident in DANGEROUS_FILTERS:
                    add("high", f"|{ident}", off)
                elif ident not in PLAIN_FILTERS:
                    add("medium", f"|{ident}", off)
            else:
                if ident in DANGEROUS_NAMES:
                    add("high", ident, off)
                elif call and ident not in PLAIN_NAMES:
                    add("medium", f"{ident}()", off)
    return out
