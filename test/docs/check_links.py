#!/usr/bin/env python3
"""The README and docs/ link only to what is in the repository: every
relative link names an existing file (and heading anchors are not checked),
and nothing points outside the repository.
  check_links.py REPOSITORY_ROOT"""
import os
import re
import sys

root = os.path.abspath(sys.argv[1])
pages = ["README.md", "CHANGELOG.md"] + sorted(os.path.relpath(os.path.join(d, f), root)
                                               for d, _, files in os.walk(os.path.join(root, "docs")) for f in files if f.endswith(".md"))
link = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
problems = []
for page in pages:
    path = os.path.join(root, page)
    with open(path) as f:
        text = f.read()
    if "shared/" in text:
        problems.append(f"{page}: mentions a shared/ folder outside the repository")
    for target in link.findall(text):
        if target.startswith("file:"):
            problems.append(f"{page}: link {target} names a file outside the repository")
            continue
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or a heading on the same page
        file = target.split("#")[0]
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file))
        if not resolved.startswith(root + os.sep):
            problems.append(f"{page}: link {target} leaves the repository")
        elif not os.path.exists(resolved):
            problems.append(f"{page}: link {target} names a file that does not exist")
for p in problems:
    print(p)
print(f"{len(pages)} pages checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
