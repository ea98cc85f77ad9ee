#!/usr/bin/python3
"""check_sizes.py - fails on a product source file over 800 lines or a function over 80 (issue 20).

Reads every .cc and .h of the product folders (common conf queue net policy inbound relay
cli; never tests/, bench/, fuzz/ or a build tree), prints the ten largest files and the ten
longest functions, then every file and function over its limit, and exits 1 if there is one.

A function is found by a heuristic, not a parser: comments, string literals and preprocessor
lines are blanked, then a `{` that ends a line is a function body when every scope around it
is a namespace, class, struct, union or `extern "C"` and the text since the previous `;`,
`{` or `}` (its header) has a parameter list and is no namespace, class, enum, control
statement, lambda or initializer. Its length is counted from the first line of the header
(template line included) to the line of the matching `}`. Lambdas and local classes inside
a function belong to that function. A file holding the comment `// generated table` is
excepted from both limits (it is listed, marked, and never fails the check).

    check_sizes.py [--self-test] [ROOT]

ROOT is the source tree (default: the one this script is in). --self-test first runs the
check on synthetic files, one per rule, and fails unless each is measured as expected, so
the check cannot pass by measuring nothing. Python stdlib only; ctest runs it as the test
`sizes` (tests/CMakeLists.txt).
"""

import check_common
import os
import re
import sys
import tempfile

PRODUCT = ("common", "conf", "queue", "net", "policy", "inbound", "relay", "cli")
SOURCE_SUFFIXES = (".h", ".cc")
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 80
GENERATED = "// generated table"
TOP = 10

CONTAINER = re.compile(r"^(?:(?:inline\s+)?namespace\b|class\b|struct\b|union\b|enum\b|"
                       r'extern\s*"[^"]*")')
CONTROL = re.compile(r"^(?:if|else|for|while|do|switch|catch|try|return|case|default)\b")
ACCESS = re.compile(r"^\s*(?:public|private|protected)\s*:(?!:)")
NAME = re.compile(r"((?:[A-Za-z_~][\w]*\s*(?:<[^()]*>)?\s*::\s*)*"
                  r"(?:operator\s*(?:\(\)|[^\s(]+)|~?[A-Za-z_]\w*))\s*$")


def blank_code(text):
    """Returns text with comments, string and character literals and preprocessor lines
    replaced by spaces; newlines are kept, so offsets map to the same line numbers."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#" or (line_start and c in " \t" and
                                       text[i:].lstrip(" \t").startswith("#")):
            # A preprocessor line, with its backslash continuations.
            while i < n:
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                if text[i] == "\n":
                    break
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            out.append(c)
            i += 1
            line_start = True
            continue
        if c not in " \t":
            line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == "R" and i + 1 < n and text[i + 1] == '"' and not _ident_before(text, i):
            m = re.match(r'R"([^()\\ ]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            close = ")" + m.group(1) + '"'
            end = text.find(close, i + m.end())
            end = n if end < 0 else end + len(close)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:end]))
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_") and \
                    i + 1 < n and text[i + 1].isalnum():
                out.append(" ")  # a digit separator: 1'000'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident_before(text, i):
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def strip_template(header):
    """Drops leading `template <...>` clauses."""
    while True:
        m = re.match(r"\s*template\s*<", header)
        if not m:
            return header
        depth, j = 1, m.end()
        while j < len(header) and depth:
            depth += {"<": 1, ">": -1}.get(header[j], 0)
            j += 1
        header = header[j:]


def classify(header, ends_line, before_brace):
    """What a `{` at namespace or class scope opens: ("container", None), ("function", name)
    or ("other", None) (an initializer, a lambda, a constructor's `a_{x}`)."""
    h = ACCESS.sub("", strip_template(header)).strip()
    h = re.sub(r"\[\[[^\]]*\]\]", " ", h).strip()
    if CONTAINER.match(h) and "(" not in h:
        return "container", None
    if not h or CONTROL.match(h) or "(" not in h or ")" not in h[h.index("("):]:
        return "other", None
    # A body that shares its line (`int f() { return 1; }`, `D(int a) : a_{a} {}`) follows
    # the parameter list, a qualifier or an initializer; a `{` after a name is an initializer.
    if not ends_line and not (before_brace in ")}" or
                              re.search(r"\b(?:const|noexcept|override|final|mutable)$", h)):
        return "other", None
    before = h[:h.index("(")]
    if re.search(r"\boperator\s*$", before):
        before = re.sub(r"\s*$", "()", before)  # `operator()(...)`: the first `(` is the name's
    if "operator" in before:
        m = re.search(r"((?:[\w~]+\s*::\s*)*operator\s*(?:\(\)|[^\s(]+))\s*$", before)
        if m:
            return "function", re.sub(r"\s+", "", m.group(1))
    if "=" in before or "[" in before or "{" in before or "}" in before:
        return "other", None  # an initializer or a lambda
    m = NAME.search(before)
    if not m:
        return "other", None
    return "function", re.sub(r"\s+", "", m.group(1))


def measure(text):
    """Returns [(name, first line, last line)] for the function bodies in one file."""
    code = blank_code(text)
    functions = []
    stack = []  # per open brace: (kind, name, first line); kind as classify() returns it
    stmt_start = 0  # where the current header began: after the last `;`, `{` or `}` at scope
    line = 1
    for pos, c in enumerate(code):
        if c == "\n":
            line += 1
            continue
        at_scope = all(kind == "container" for kind, _, _ in stack)
        if c == ";":
            if at_scope:
                stmt_start = pos + 1
        elif c == "{":
            if not at_scope:
                stack.append(("other", None, line))
                continue
            header = code[stmt_start:pos]
            eol = code.find("\n", pos)
            ends_line = code[pos + 1:eol if eol >= 0 else len(code)].strip() == ""
            before_brace = header.rstrip()[-1:] or ";"
            kind, name = classify(header, ends_line, before_brace)
            first = line
            if kind == "function":
                lead = ACCESS.match(header)
                skip = lead.end() if lead else 0
                rest = header[skip:]
                first = line - rest.lstrip().count("\n")
            stack.append((kind, name, first))
            if kind != "other":
                stmt_start = pos + 1
        elif c == "}" and stack:
            kind, name, first = stack.pop()
            if kind == "function":
                functions.append((name, first, line))
            # An inner `a_{x}` at scope leaves its header open; a closed body or scope ends it.
            if kind != "other" and all(k == "container" for k, _, _ in stack):
                stmt_start = pos + 1
    return functions


def check_tree(root):
    """Returns (files, functions, problems): files as (lines, path, generated), functions as
    (lines, path, first line, name, generated), problems as strings."""
    files, functions, problems = [], [], []
    for folder in PRODUCT:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            problems.append(f"{folder}/: missing; is {root} the source tree?")
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                generated = GENERATED in text
                lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
                files.append((lines, rel, generated))
                if lines > MAX_FILE_LINES and not generated:
                    problems.append(f"{rel}: {lines} lines, over {MAX_FILE_LINES}")
                for fname, first, last in measure(text):
                    length = last - first + 1
                    functions.append((length, rel, first, fname, generated))
                    if length > MAX_FUNCTION_LINES and not generated:
                        problems.append(f"{rel}:{first}: {fname} is {length} lines, over "
                                        f"{MAX_FUNCTION_LINES}")
    return files, functions, problems


def report(files, functions):
    mark = lambda generated: "  (generated table, excepted)" if generated else ""
    print(f"The {TOP} largest files (lines):")
    for lines, rel, generated in sorted(files, key=lambda f: (-f[0], f[1]))[:TOP]:
        print(f"  {lines:5d}  {rel}{mark(generated)}")
    print(f"The {TOP} longest functions (lines, header to closing brace):")
    for length, rel, first, name, generated in sorted(functions,
                                                      key=lambda f: (-f[0], f[1], f[2]))[:TOP]:
        print(f"  {length:5d}  {rel}:{first}  {name}{mark(generated)}")


def self_test():
    """Each synthetic file must be measured as expected."""
    def body(n):
        return "".join(f"  x += {i};\n" for i in range(n))

    # (file, text, expected [(name, length)] in order of closing, expected problem count)
    cases = [
        ("common/a.cc", "namespace hato {\nint f(int x) {\n" + body(77) + "  return x;\n}\n}\n",
         [("f", 80)], 0),
        ("common/b.cc", "namespace hato {\nint f(int x) {\n" + body(78) + "  return x;\n}\n}\n",
         [("f", 81)], 1),
        ("conf/c.cc",  # a header over three lines, a lambda and a local struct inside
         "namespace hato::conf {\n// a comment { with a brace\ntemplate <typename T>\n"
         "Result<T> Reader::read(const std::string& key,\n    int depth) const {\n"
         "  auto each = [&](int v) {\n    return v + 1;\n  };\n  struct Local {\n"
         "    int g() {\n      return 1;\n    }\n  };\n  const char* s = \"}\";\n"
         "  return each(depth);\n}\n}  // namespace hato::conf\n",
         [("Reader::read", 14)], 0),
        ("net/d.h",  # a class with an inline member, a constructor with braced initializers
         "class D {\n public:\n  D(int a)\n      : a_{a}, b_(a) {\n    a_++;\n  }\n"
         "  int get() const noexcept {\n    return a_;\n  }\n  bool operator==(const D& o) const {\n"
         "    return a_ == o.a_;\n  }\n\n private:\n  int a_{0};\n  int b_;\n};\n",
         [("D", 4), ("get", 3), ("operator==", 3)], 0),
        ("policy/e.cc",  # an initializer, an enum, a control block at namespace scope
         "enum class Kind {\n  a,\n  b,\n};\nconst Entry kTable[] = {\n  {\"a\", 1},\n"
         "  {\"b\", 2},\n};\nstatic auto lambda = [](int x) {\n  return x;\n};\n"
         "extern \"C\" {\nvoid cb(int) {\n}\n}\n",
         [("cb", 2)], 0),
        ("inbound/f.cc", "// generated table\nint table() {\n" + body(100) + "}\n" +
         "int x;\n" * 800, [("table", 102)], 0),
        ("relay/g.cc", "int x;\n" * 801, [], 1),
        ("cli/h.cc",  # a raw string and a character literal with a brace
         "void h() {\n  auto s = R\"(\n}\n)\";\n  char c = '{';\n  if (c) {\n  }\n}\n",
         [("h", 8)], 0),
    ]
    failures = []
    with tempfile.TemporaryDirectory() as root:
        for folder in PRODUCT:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        files, functions, problems = check_tree(root)
        if files or functions or problems:
            failures.append(f"empty tree: {files} {functions} {problems}")
        for rel, text, expected, problem_count in cases:
            path = os.path.join(root, rel)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            files, functions, problems = check_tree(root)
            got = [(name, length) for length, _, _, name, _ in functions]
            if got != expected:
                failures.append(f"{rel}: measured {got}, expected {expected}")
            if len(problems) != problem_count:
                failures.append(f"{rel}: reported {problems}, expected {problem_count} problem(s)")
            os.remove(path)
    return failures


def main(argv):
    root, status = check_common.start(argv, __doc__, "check_sizes", self_test,
                                      "mismeasure files or functions")
    if root is None:
        return status
    files, functions, problems = check_tree(root)
    report(files, functions)
    if not files or not functions:
        print(f"check_sizes: read {len(files)} files and {len(functions)} functions under "
              f"{root}: nothing to check")
        return 1
    for p in problems:
        print(p)
    if problems:
        print(f"check_sizes: {len(problems)} over the limits ({MAX_FILE_LINES} lines a file, "
              f"{MAX_FUNCTION_LINES} a function) in {len(files)} files, {len(functions)} functions")
        return 1
    print(f"check_sizes: {len(files)} files, {len(functions)} functions, none over "
          f"{MAX_FILE_LINES} or {MAX_FUNCTION_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
