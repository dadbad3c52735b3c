#!/usr/bin/python3
"""Every `Class::Function` and every `path/file.ext` that docs/architecture.md names exists in
the tree, so the walk-through cannot rot silently.

    /usr/bin/python3 tests/docs/check_doc_references.py [SOURCE_DIR]
"""

import os
import re
import subprocess
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    doc = open(os.path.join(root, "docs", "architecture.md")).read()
    missing = []
    paths = set(re.findall(r"`((?:common|scheduler|worker|client|proto|deploy|tests|docs)/[\w./-]+)`", doc))
    for path in sorted(paths):
        if not os.path.exists(os.path.join(root, path)):
            missing.append(f"file {path}")
    symbols = set(re.findall(r"\b([A-Z]\w+)::([A-Z]\w+)\b", doc))
    sources = subprocess.run(["git", "-C", root, "ls-files", "*.cc", "*.h"], capture_output=True,
                             text=True, check=True).stdout.split()
    text = "\n".join(open(os.path.join(root, s), errors="replace").read() for s in sources)
    for cls, fn in sorted(symbols):
        # A definition `Cls::Fn(` in a .cc, or an inline member `Fn(` inside `class Cls`.
        if f"{cls}::{fn}(" in text:
            continue
        body = re.search(r"(class|struct) " + cls + r"\b[^;]*?\{(.*?)\n\};", text, re.S)
        if body and re.search(r"\b" + fn + r"\(", body.group(2)):
            continue
        missing.append(f"function {cls}::{fn}")
    for fn in sorted(set(re.findall(r"`([A-Z]\w+)`", doc))):
        if not re.search(r"\b" + fn + r"\b", text):
            missing.append(f"name {fn}")
    if missing:
        print("docs/architecture.md names what does not exist:\n  " + "\n  ".join(missing))
        return 1
    print(f"docs/architecture.md: {len(paths)} files and {len(symbols)} functions all exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
