#!/usr/bin/env python3
"""gen_api.py - write docs/api.md from the public headers

    python3 docs/gen_api.py            rewrite docs/api.md
    python3 docs/gen_api.py --check    exit 1, with a diff, when docs/api.md
                                       is not what the headers give
    python3 docs/gen_api.py --stdout   print it instead

The reference is the headers' own words: include/zmicro.h, then every
include/zmicro/*.h in the order zmicro.h includes them (any other header
after them, by name). For each header, its top comment; then every
declaration with the comment above it, verbatim, under the header's
sections (a "//  ----" rule and the comment after it).

What counts as one entry: a comment followed by declarations with nothing
between them (no blank line, no other comment) is one entry, so that the
declarations a comment speaks for stay with it (zm_log_set_level and
zm_log_level). Declarations after a blank line with no comment of their own
are an entry of their own, explained by their section.

tests/test_getting_started.c runs this with --check, so the file cannot
drift from the headers, and counts the functions of the headers its own way.
No dependency beyond Python 3's standard library; the output depends only
on the headers.
"""

import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join("docs", "api.md")


class Entry:
    def __init__(self, comment):
        self.comment = comment  # comment lines, verbatim
        self.decls = []  # each a list of lines, verbatim
        self.names = []  # (kind, name) per declaration


class Section:
    def __init__(self, title, prose):
        self.title = title  # None: before the first rule
        self.prose = prose  # paragraphs of comment text (lists of lines)
        self.entries = []


def strip_comment(line):
    """The code of a line, without a trailing // comment."""
    at = line.find("//")
    return line if at < 0 else line[:at]


def comment_text(line):
    """The text of a // comment line, without the marker and the two spaces."""
    text = line.strip()[2:]
    return text[2:] if text.startswith("  ") else text.lstrip()


def classify(lines):
    """(kind, name) of one declaration: function, type, macro or variable."""
    code = " ".join(strip_comment(l) for l in lines).strip()
    if code.startswith("#define"):
        match = re.match(r"#define\s+(\w+)", code)
        return ("macro", match.group(1))
    if code.startswith("typedef") and "{" not in code:
        fn = re.match(r"typedef[^(]*\(\s*\*?\s*(\w+)\s*\)\s*\(", code)
        if fn:
            return ("type", fn.group(1))
        return ("type", re.findall(r"(\w+)\s*;\s*$", code)[0])
    if code.startswith("typedef"):
        return ("type", re.findall(r"(\w+)\s*;\s*$", code)[0])
    if code.startswith("struct"):
        return ("type", "struct " + re.match(r"struct\s+(\w+)", code).group(1))
    if code.startswith("extern"):
        return ("variable", re.findall(r"(\w+)\s*;\s*$", code)[0])
    depth = 0
    for match in re.finditer(r"(\w+)\s*\(|[{}]", code):
        token = match.group(0)
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0 and match.group(1) != "__attribute__":
            return ("function", match.group(1))
    raise SystemExit("gen_api.py: cannot read this declaration:\n" + "\n".join(lines))


def boilerplate(code):
    """Lines of a header that are not part of its API."""
    return (
        code.startswith("#ifndef")
        or code.startswith("#endif")
        or code.startswith("#include")
        or code.startswith("#ifdef __cplusplus")
        or re.match(r"#define \w+_H_INCLUDED\s*$", code) is not None
        or code == 'extern "C" {'
        or code == "}"
    )


def parse(path):
    """(title, intro lines, sections) of one header."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    # The top comment: /*  ====...  title - what it is  ...  ====  */
    if not lines[0].startswith("/*"):
        raise SystemExit("gen_api.py: %s does not open with its comment" % path)
    end = next(i for i, l in enumerate(lines) if l.strip().endswith("*/"))
    top = [l for l in lines[1:end] if not l.strip().startswith("====")]
    title = top[0].strip()
    intro = [l[4:] if l.startswith("    ") else l.strip() for l in top[1:]]
    while intro and not intro[0].strip():
        intro.pop(0)
    while intro and not intro[-1].strip():
        intro.pop()

    sections = [Section(None, [])]
    comment = []  # comment lines waiting for their declaration
    entry = None  # the entry a declaration right below the last joins
    after_rule = False  # the comment being read opens a section
    i = end + 1
    while i < len(lines):
        line = lines[i]
        code = line.strip()
        i += 1
        if not code:
            if comment and after_rule:
                text = [comment_text(c) for c in comment]
                prose = [] if len(text) == 1 and section_title(text[0]) == text[0] else [text]
                sections.append(Section(text[0], prose))
                after_rule = False
            elif comment:
                # A comment standing alone (a blank line below it): prose
                sections[-1].prose.append([comment_text(c) for c in comment])
            comment = []
            entry = None
            continue
        if code.startswith("//  ---") or code.startswith("// ---"):
            after_rule = True
            comment = []
            entry = None
            continue
        if code.startswith("//"):
            comment.append(line)
            entry = None
            continue
        if boilerplate(code):
            continue
        # A declaration: up to its ';' at brace depth 0, or a #define line
        decl = [line]
        if code.startswith("#"):
            while decl[-1].endswith("\\"):
                decl.append(lines[i])
                i += 1
        else:
            depth = strip_comment(line).count("{") - strip_comment(line).count("}")
            while depth > 0 or not strip_comment(decl[-1]).rstrip().endswith(";"):
                if i >= len(lines):
                    raise SystemExit("gen_api.py: %s: unterminated declaration" % path)
                decl.append(lines[i])
                depth += strip_comment(lines[i]).count("{") - strip_comment(lines[i]).count("}")
                i += 1
        if after_rule and comment:
            # A rule, its comment and a declaration with no blank line
            # between: the comment is both the section and the entry's
            sections.append(Section(comment_text(comment[0]), []))
            after_rule = False
        if entry is None or comment:
            entry = Entry(comment)
            sections[-1].entries.append(entry)
            comment = []
        entry.decls.append(decl)
        entry.names.append(classify(decl))
    return title, intro, sections


def section_title(text):
    """A heading from a section's first comment line."""
    title = text.split(". ")[0].rstrip(".")
    if len(title) > 60 and ": " in title:
        title = title.split(": ")[0]
    return title


def slug(text, seen):
    """GitHub's anchor for a heading, made unique as GitHub does."""
    base = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
    anchor = base
    n = seen.get(base, 0)
    if n:
        anchor = "%s-%d" % (base, n)
    seen[base] = n + 1
    return anchor


def escape(text):
    """Plain text for a markdown paragraph."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text)


def headers():
    """include/zmicro.h, then include/zmicro/*.h in zmicro.h's order."""
    with open(os.path.join(ROOT, "include", "zmicro.h"), encoding="utf-8") as f:
        order = re.findall(r'#include "(zmicro/\w+\.h)"', f.read())
    present = sorted("zmicro/" + n for n in os.listdir(os.path.join(ROOT, "include", "zmicro"))
                     if n.endswith(".h"))
    return ["zmicro.h"] + [h for h in order if h in present] + [h for h in present if h not in order]


def generate():
    parsed = []
    for header in headers():
        parsed.append((header,) + parse(os.path.join(ROOT, "include", header)))
    counts = {"function": 0, "type": 0, "macro": 0, "variable": 0}
    for _, _, _, sections in parsed:
        for section in sections:
            for entry in section.entries:
                for kind, _ in entry.names:
                    counts[kind] += 1

    out = []
    out.append("# API reference")
    out.append("")
    out.append("Generated by `docs/gen_api.py` from the comments in `include/zmicro.h` and")
    out.append("`include/zmicro/*.h`: do not edit this file, edit the headers and run")
    out.append("`python3 docs/gen_api.py`. A test (`api_docs`, in")
    out.append("`tests/test_getting_started.c`) fails when the two differ.")
    out.append("")
    out.append("%d functions, %d types, %d macros and constants, %d variables in %d headers."
               % (counts["function"], counts["type"], counts["macro"], counts["variable"],
                  len(parsed)))
    out.append("Everything is declared by `#include <zmicro.h>`; link with")
    out.append("`pkg-config --libs zmicro`. The conventions (return codes, who owns what):")
    out.append("`docs/concepts.md`; the error codes: `zmicro/error.h` below.")
    out.append("")

    # Anchors first, in document order, so the index can link to them
    seen = {}
    slug("API reference", seen)
    anchors = {}
    for header, title, intro, sections in parsed:
        anchors[header] = slug(header, seen)
        for section in sections:
            if section.title is not None:
                anchors[(header, id(section))] = slug(section_title(section.title), seen)
            for entry in section.entries:
                anchors[id(entry)] = slug(", ".join(n for _, n in entry.names), seen)

    out.append("## Index")
    out.append("")
    for header, title, intro, sections in parsed:
        what = title.split(" - ", 1)[1] if " - " in title else ""
        links = []
        for section in sections:
            for entry in section.entries:
                for kind, name in entry.names:
                    if kind == "function":
                        links.append("[`%s`](#%s)" % (name, anchors[id(entry)]))
        line = "- [`%s`](#%s): %s" % (header, anchors[header], escape(what))
        if links:
            line += ". " + ", ".join(links)
        out.append(line)
    out.append("")

    for header, title, intro, sections in parsed:
        out.append("## %s" % header)
        out.append("")
        out.append("```text")
        out.append(title)
        if intro:
            out.append("")
            out.extend(l.rstrip() for l in intro)
        out.append("```")
        out.append("")
        for section in sections:
            if section.title is not None:
                out.append("### %s" % section_title(section.title))
                out.append("")
            for paragraph in section.prose:
                out.append(escape(" ".join(l.strip() for l in paragraph)))
                out.append("")
            for entry in section.entries:
                out.append("#### " + ", ".join("`%s`" % n for _, n in entry.names))
                out.append("")
                out.append("```c")
                out.extend(l.rstrip() for l in entry.comment)
                for decl in entry.decls:
                    out.extend(l.rstrip() for l in decl)
                out.append("```")
                out.append("")
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def main(argv):
    text = generate()
    path = os.path.join(ROOT, OUT)
    if "--stdout" in argv:
        sys.stdout.write(text)
        return 0
    if "--check" in argv:
        try:
            with open(path, encoding="utf-8") as f:
                old = f.read()
        except OSError as e:
            print("gen_api.py: %s: %s" % (OUT, e.strerror), file=sys.stderr)
            return 1
        if old == text:
            return 0
        sys.stderr.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                   OUT + " (committed)", OUT + " (generated)"))
        print("gen_api.py: %s is not what the headers give: run python3 docs/gen_api.py"
              % OUT, file=sys.stderr)
        return 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
