"""libyaml's scalar choices and writers as go-yaml v2 has them, on ruamel's emitter (`GoEmitter`,
used by `config.go_yaml`).

ruamel's emitter is a port of the same libyaml emitter, and its block structure (indentation,
sequences in mappings at the key's column, literal blocks and their hints) is what go-yaml
writes; where the two differ this module holds go-yaml's version:

- the analysis of a scalar's characters (`yaml_emitter_analyze_scalar`): a tab, U+0085 and
  any character beyond the Basic Multilingual Plane are not printable; ":" or "?" first, or
  "-" first before a blank, forbid plain style;
- the style choice (`yaml_emitter_select_scalar_style`): plain when allowed, else single
  quotes when allowed, else double; a literal block where allowed, else double quotes (ruamel
  prefers double quotes for a text holding a `'`);
- folding at 80 columns (`yaml_emitter_write_plain_scalar`, `..._single_quoted_scalar`,
  `..._double_quoted_scalar`): a line is broken at the first single space after column 80
  (ruamel breaks before a word that would cross it), and double-quoted text escapes what is
  not printable as `\\t`, `\\n`, `\\xXX`, `\\uXXXX`, `\\UXXXXXXXX`.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.emitter import Emitter, ScalarAnalysis

BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPES = {
    "\x00": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f",
    "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L",
    "\u2029": "P",
}  # fmt: skip


def printable(ch: str) -> bool:
    """libyaml's is_printable."""
    return (
        ch == "\n"
        or " " <= ch <= "~"
        or "\xa0" <= ch <= "\ud7ff"
        or ("\ue000" <= ch <= "\ufffd" and ch != "\ufeff")
    )


def _escaped(ch: str) -> str:
    code = ord(ch)
    if ch in _ESCAPES:
        return "\\" + _ESCAPES[ch]
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def analyze(text: str) -> ScalarAnalysis:
    """yaml_emitter_analyze_scalar, as ruamel's `ScalarAnalysis`."""
    if not text:
        return ScalarAnalysis(text, True, False, False, True, True, True, False)
    block = flow = breaks = special = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    if text.startswith(("---", "...")):
        block = flow = True
    preceded = True
    last = len(text) - 1
    for i, ch in enumerate(text):
        followed = i == last or text[i + 1] in " \t"
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                flow = block = True
            elif ch in "?:":
                flow = True
                block = block or followed
            elif ch == "-" and followed:
                flow = block = True
        elif ch in ",?[]{}":
            flow = True
        elif ch == ":":
            flow = True
            block = block or followed
        elif ch == "#" and preceded:
            flow = block = True
        special = special or not printable(ch)
        if ch == " ":
            leading_space = leading_space or i == 0
            trailing_space = trailing_space or i == last
            break_space = break_space or previous_break
            previous_space, previous_break = True, False
        elif ch in BREAKS:
            breaks = True
            leading_break = leading_break or i == 0
            trailing_break = trailing_break or i == last
            space_break = space_break or previous_space
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded = ch in " \t" + BREAKS
    flow_plain = block_plain = single = block_ok = True
    if leading_space or leading_break or trailing_space or trailing_break or breaks:
        flow_plain = block_plain = False
    if trailing_space:
        block_ok = False
    if break_space:
        flow_plain = block_plain = single = False
    if space_break or special:
        flow_plain = block_plain = single = block_ok = False
    if flow:
        flow_plain = False
    if block:
        block_plain = False
    return ScalarAnalysis(text, False, breaks, flow_plain, block_plain, single, True, block_ok)


class GoEmitter(Emitter):  # type: ignore[misc]
    """ruamel's emitter with go-yaml's scalar analysis, style choice and scalar writers."""

    def analyze_scalar(self, scalar: Any) -> Any:
        return analyze(str(scalar))

    def choose_scalar_style(self) -> Any:  # yaml_emitter_select_scalar_style
        current: ScalarAnalysis | None = getattr(self, "analysis", None)  # ruamel's, untyped
        analysis: ScalarAnalysis = current or self.analyze_scalar(self.event.value)
        self.analysis = analysis
        style = self.event.style or ""
        if self.simple_key_context and analysis.multiline:
            style = '"'
        if style == "":
            if (self.flow_level and not analysis.allow_flow_plain) or (
                not self.flow_level and not analysis.allow_block_plain
            ):
                style = "'"
            if analysis.empty and (self.flow_level or self.simple_key_context):
                style = "'"
        if style == "'" and not analysis.allow_single_quoted:
            style = '"'
        if style in ("|", ">") and (
            not analysis.allow_block or self.flow_level or self.simple_key_context
        ):
            style = '"'
        return style

    def _put(self, data: str) -> None:
        self.column += len(data)
        self.stream.write(data)

    def _fold(self) -> None:
        """libyaml's write_indent in a scalar: a line break, then the indentation."""
        self.write_indent()
        self.whitespace = self.indention = True

    def _write_breaks(self, ch: str, breaks: bool) -> None:
        if not breaks and ch == "\n":
            self.write_line_break()
        self.write_line_break(None if ch == "\n" else ch)

    def write_plain(self, text: Any, split: Any = True) -> None:
        if not text:
            return
        if not self.whitespace:
            self._put(" ")
        spaces = breaks = False
        for i, ch in enumerate(text):
            if ch == " ":
                after = text[i + 1] if i + 1 < len(text) else ""
                if split and not spaces and self.column > self.best_width and after != " ":
                    self._fold()
                else:
                    self._put(ch)
                spaces = True
            elif ch in BREAKS:
                self._write_breaks(ch, breaks)
                breaks = True
            else:
                if breaks:
                    self._fold()
                self._put(ch)
                spaces = breaks = False
        self.whitespace = self.indention = False

    def write_single_quoted(self, text: Any, split: Any = True) -> None:
        self.write_indicator("'", True)
        spaces = breaks = False
        last = len(text) - 1
        for i, ch in enumerate(text):
            if ch == " ":
                after = text[i + 1] if i < last else ""
                if (
                    split and not spaces and self.column > self.best_width
                    and 0 < i < last and after != " "
                ):  # fmt: skip
                    self._fold()
                else:
                    self._put(ch)
                spaces = True
            elif ch in BREAKS:
                self._write_breaks(ch, breaks)
                breaks = True
            else:
                if breaks:
                    self._fold()
                self._put("''" if ch == "'" else ch)
                spaces = breaks = False
        self.write_indicator("'", False)
        self.whitespace = self.indention = False

    def write_double_quoted(self, text: Any, split: Any = True) -> None:
        self.write_indicator('"', True)
        spaces = False
        last = len(text) - 1
        for i, ch in enumerate(text):
            if not printable(ch) or ch in '\ufeff"\\' or ch in BREAKS:
                self._put(_escaped(ch))
                spaces = False
            elif ch == " ":
                if split and not spaces and self.column > self.best_width and 0 < i < last:
                    self._fold()
                    if text[i + 1] == " ":
                        self._put("\\")
                else:
                    self._put(ch)
                spaces = True
            else:
                self._put(ch)
                spaces = False
        self.write_indicator('"', False)
        self.whitespace = self.indention = False
