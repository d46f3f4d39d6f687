"""Whether a text parses as a CEL expression (the grammar of google/cel-spec's langdef), as
Istio's webhook checks a Telemetry access-log filter (`celEnv.Parse`: syntax only, no types).
`cel_syntax_problem(text)` is None or the first error. A tokenizer and a recursive-descent
parser of the expression grammar; evaluation is Envoy's. Pure.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>[rR]?[bB]?[rR]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
        |'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
    |(?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
    |(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
    |(?P<op>\|\||&&|<=|>=|==|!=|[-+*/%!<>?:.,()\[\]{}])
    )""",
    re.VERBOSE | re.DOTALL,
)
_RESERVED = frozenset(
    [
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)
_STRING_PREFIX = re.compile(r"[rRbB]{1,2}['\"]")
_RELATIONS = frozenset({"<", "<=", ">=", ">", "==", "!=", "in"})


class _Error(Exception):
    pass


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _Error(f"Syntax error: token recognition error at: '{text[pos:].strip()[:1]}'")
        token = match.group(match.lastgroup or "op")
        if match.lastgroup == "ident" and token in _RESERVED:
            raise _Error(f"Syntax error: reserved identifier: {token}")
        tokens.append(token)
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, *expected: str) -> str:
        token = self.peek()
        if expected and token not in expected:
            shown = f"'{token}'" if token else "<EOF>"
            raise _Error(f"Syntax error: mismatched input {shown} expecting {expected[0]!r}")
        self.pos += 1
        return token

    def expr(self) -> None:
        self.binary(0)
        if self.peek() == "?":
            self.take()
            self.binary(0)
            self.take(":")
            self.expr()

    def binary(self, level: int) -> None:
        levels = (("||",), ("&&",), tuple(_RELATIONS), ("+", "-"), ("*", "/", "%"))
        if level == len(levels):
            self.unary()
            return
        self.binary(level + 1)
        while self.peek() in levels[level]:
            self.take()
            self.binary(level + 1)

    def unary(self) -> None:
        while self.peek() in ("!", "-"):
            self.take()
        self.member()

    def member(self) -> None:
        self.primary()
        while self.peek() in (".", "["):
            if self.take() == ".":
                self.ident()
                if self.peek() == "(":
                    self.arguments(")")
                elif self.peek() == "{":
                    self.arguments("}", fields=True)
            else:
                self.expr()
                self.take("]")

    def ident(self) -> None:
        token = self.take()
        if not re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9]*", token):
            raise _Error(f"Syntax error: mismatched input '{token}' expecting IDENTIFIER")

    def arguments(self, close: str, entries: bool = False, fields: bool = False) -> None:
        self.take()
        while self.peek() != close:
            if fields:
                self.ident()
                self.take(":")
            self.expr()
            if entries:
                self.take(":")
                self.expr()
            if self.peek() != close:
                self.take(",")
        self.take(close)

    def primary(self) -> None:
        token = self.peek()
        if token == ".":
            self.take()
            token = self.peek()
        if token == "(":
            self.take()
            self.expr()
            self.take(")")
        elif token == "[":
            self.arguments("]")
        elif token == "{":
            self.arguments("}", entries=True)
        elif re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9]*", token) and token != "in":
            self.take()
            if self.peek() == "(":
                self.arguments(")")
            elif self.peek() == "{":
                self.arguments("}", fields=True)
        elif token and (token[0].isdigit() or token[0] in "'\"." or _STRING_PREFIX.match(token)):
            self.take()
        else:
            shown = f"'{token}'" if token else "<EOF>"
            raise _Error(f"Syntax error: mismatched input {shown} expecting an expression")


def cel_syntax_problem(text: str) -> str | None:
    try:
        parser = _Parser(_tokens(text))
        parser.expr()
        if parser.peek():
            raise _Error(f"Syntax error: extraneous input '{parser.peek()}' expecting <EOF>")
    except _Error as error:
        return str(error)
    except RecursionError:
        return "Syntax error: expression nested too deeply"
    return None
