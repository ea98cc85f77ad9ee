#!/usr/bin/python3
"""scd2md.py - the Markdown reference (docs/*.md) made from the man pages' scdoc sources, so
that README's reference and the man pages are one text (issue 26 item 3).

    docs/scd2md.py                 rewrites docs/hato.8.md and docs/hato.yaml.5.md
    docs/scd2md.py --check         exits 1 naming a stale file (the ctest `man_pages_md`)

Only the part of scdoc(5) the pages use: a title line, ';' comments, '#' and '##' headings,
*bold*, _underline_, tab-indented definition bodies, ``` blocks and backslash escapes.
"""
import os
import re
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
PAGES = ("hato.8", "hato.yaml.5")

BOLD = re.compile(r"(?<!\\)\*((?:\\.|[^*\\])+?)(?<!\\)\*")
# An underscore opens an underline only where it does not sit inside a word (data_dir).
UNDERLINE = re.compile(r"(?<![A-Za-z0-9\\])_((?:\\.|[^\\])+?)_(?![A-Za-z0-9])")
MD_SPECIAL = re.compile(r"([<>|\[\]`])")


def inline(text):
    """scdoc's inline markup as Markdown; Markdown's own special characters escaped."""
    out = MD_SPECIAL.sub(r"\\\1", text)
    out = BOLD.sub(lambda m: "**" + m.group(1) + "**", out)
    # As HTML: "*N*" next to "**/s**" would be ambiguous in Markdown.
    out = UNDERLINE.sub(lambda m: "<i>" + m.group(1) + "</i>", out)
    # scdoc's escapes (\\ \* \_): the character itself, escaped again for Markdown.
    return re.sub(r"\\([\\*_])", lambda m: "\\" + m.group(1) if m.group(1) != "\\" else "\\\\",
                  out)


def convert(source, name):
    lines = source.splitlines()
    out = [f"<!-- Made from docs/{name}.scd by docs/scd2md.py: edit the source, not this. -->",
           "", f"# {lines[0].strip()}", ""]
    paragraph = []  # the paragraph being read, joined with spaces at its end
    in_block = False

    def flush():
        if paragraph:
            out.append(" ".join(paragraph))
            out.append("")
            paragraph.clear()

    for i, raw in enumerate(lines[1:], start=1):
        stripped = raw.strip()
        if in_block:
            if stripped == "```":
                out += ["```", ""]
                in_block = False
            else:
                out.append(raw[1:] if raw.startswith("\t") else raw)
        elif raw.startswith(";"):
            continue
        elif stripped == "```":
            flush()
            out.append("```")
            in_block = True
        elif not stripped:
            flush()
        elif raw.startswith("# "):
            flush()
            out += [f"## {stripped[2:].title()}", ""]
        elif raw.startswith("## "):
            flush()
            out += [f"### {stripped[3:].title()}", ""]
        elif raw.startswith("\t"):
            paragraph.append(inline(stripped))
        elif i + 1 < len(lines) and lines[i + 1].startswith("\t"):
            # A term; its definition is the tab-indented lines under it.
            flush()
            paragraph.append("- " + inline(stripped) + ":")
        else:
            paragraph.append(inline(stripped))
    flush()
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for page in PAGES:
        with open(os.path.join(DOCS, page + ".scd"), encoding="utf-8") as f:
            text = convert(f.read(), page)
        target = os.path.join(DOCS, page + ".md")
        try:
            with open(target, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        if check:
            stale.append(target)
        else:
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("stale (run docs/scd2md.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
