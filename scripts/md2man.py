#!/usr/bin/env python3
"""Turns docs/lpsafe.1.md into the roff of docs/lpsafe.1, so the manual page
and the Markdown page cannot drift apart (tests/capi/meson.build checks the
committed page is what this makes of the Markdown).

Handles the Markdown that page uses: '#' title, '##' sections, '###'
subsections, fenced code, '-' and '1.' list items with indented
continuation lines, `code`, **bold**, *italic* and [text](link).

    md2man.py docs/lpsafe.1.md VERSION > docs/lpsafe.1
"""
import re
import sys


def escape(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    # A line starting with '.' or "'" would be a roff request.
    return re.sub(r"^([.'])", r"\\&\1", text)


def inline(text):
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) > 1:
            out.append("\\fB" + escape(p[1:-1]) + "\\fR")
            continue
        p = escape(p)
        p = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", p)
        p = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", p)
        out.append(p)
    return "".join(out)


def convert(lines, version):
    out = []
    in_code = False
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("```"):
            out.append(".fi" if in_code else ".PP\n.nf")
            in_code = not in_code
            continue
        if in_code:
            out.append(escape(line) if line else "")
            continue
        m = re.match(r"^# ([A-Z]+)\((\d)\)", line)
        if m:
            out.append(f'.TH {m.group(1)} {m.group(2)} "" "lpsafe {version}" "lpsafe manual"')
            continue
        if line.startswith("## "):
            out.append(".SH " + escape(line[3:].upper()))
            continue
        if line.startswith("### "):
            out.append(".SS " + escape(line[4:]))
            continue
        if not line.strip():
            out.append(".PP")
            continue
        m = re.match(r"^- (.*)", line)
        if m:
            out.append(".IP \\(bu 2\n" + inline(m.group(1)))
            continue
        m = re.match(r"^(\d+)\. (.*)", line)
        if m:
            out.append(f".IP {m.group(1)}. 4\n" + inline(m.group(2)))
            continue
        out.append(inline(line.strip()))
    # Consecutive paragraph breaks, and a break right after a heading or
    # before an item, are noise to roff.
    text = "\n".join(out) + "\n"
    text = re.sub(r"(\.PP\n)+", ".PP\n", text)
    text = re.sub(r"(\.S[HS] [^\n]*\n)\.PP\n", r"\1", text)
    text = re.sub(r"\.PP\n(\.(IP|SH|SS|PP))", r"\1", text)
    # whatis and apropos (lexgrog) read NAME as "name \- description".
    text = re.sub(r"(\.SH NAME\n[^\n]*?) — ", r"\1 \\- ", text)
    return text


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(convert(f.readlines(), sys.argv[2]))
