"""Known answers for a ProGuard mapping from two independent references: ProGuard's own
retrace, and a derivation from the mapping's text.

Usage: python3 jvm-references.py MAPPING RETRACE_JAR OUT.json

Frames: for every method line range of the mapping, its first, middle and last obfuscated
line, the line after it, and the method without a line (`Unknown Source`); at most 8,000,
drawn with a fixed seed. The derivation: the members of the obfuscated class with that
obfuscated name whose range holds the line (the original line is the original start plus the
offset into the range, or the line itself when the range is the original one); without a line,
every member of that name. Answers are sets of (original class, method, line) candidates;
OUT.json keeps the frames where both references give the same set.
"""
import json
import random
import re
import subprocess
import sys
import tempfile

mapping_path, retrace_jar, out_path = sys.argv[1:4]

# obfuscated class -> [(obf method, start, end, orig class, orig method, orig start, orig end)]
members = {}
originals = {}
cls = None
for line in open(mapping_path):
    m = re.match(r"^(\S+) -> (\S+):$", line)
    if m:
        cls = m.group(2)
        originals[cls] = m.group(1)
        members.setdefault(cls, [])
        continue
    m = re.match(r"^\s+(?:(\d+):(\d+):)?\S+ (?:(\S+)\.)?([^.\s(]+)\([^)]*\)(?::(\d+)(?::(\d+))?)? -> (\S+)$", line)
    if m and cls:
        start, end, ocls, ometh, ostart, oend, obf = m.groups()
        members[cls].append((obf, int(start or 0), int(end or 0), ocls or originals[cls], ometh,
                             int(ostart) if ostart else None, int(oend) if oend else None))


def derive(c, meth, line):
    out = set()
    for obf, start, end, ocls, ometh, ostart, oend in members.get(c, []):
        if obf != meth:
            continue
        if line == 0:
            out.add((ocls, ometh, 0))
        elif start <= line <= end and end > 0:
            orig = line if ostart is None else ostart + (line - start) if oend is not None else ostart
            out.add((ocls, ometh, orig))
    # No member of that name covers the line: only the class is renamed.
    if not out and c in originals:
        out.add((originals[c], meth, line))
    return out


frames = []
for c, ms in members.items():
    for obf, start, end, *_ in ms:
        if end == 0:
            continue
        for line in sorted({start, (start + end) // 2, end, end + 1}):
            frames.append((c, obf, line))
        frames.append((c, obf, 0))
frames = sorted(set(frames))
random.seed(7)
if len(frames) > 8000:
    frames = sorted(random.sample(frames, 8000))

with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    f.write("java.lang.RuntimeException: conformance\n")
    for c, meth, line in frames:
        where = f"SourceFile:{line}" if line else "Unknown Source"
        # A line retrace passes through unchanged ends each frame's answer.
        f.write(f"    at {c}.{meth}({where})\n-- end of frame\n")
    stack = f.name
text = subprocess.run(["java", "-jar", retrace_jar, mapping_path, stack], capture_output=True, text=True,
                      check=True).stdout.splitlines()[1:]

# Retrace prints a frame's first candidate as `at class.method(File:line)` and the others on
# the lines below it, indented, as `method(File:line)` (same class) or `class.method(...)`.
groups = []
current = set()
for l in text:
    s = l.strip()
    if s == "-- end of frame":
        groups.append(current)
        current = set()
        continue
    m = re.match(r"^(?:at )?(?:(\S+)\.)?([^.\s(]+)\((?:[^:)]*)(?::(\d+))?\)$", s)
    if not m:
        continue
    c, meth, line = m.group(1), m.group(2), int(m.group(3) or 0)
    prev_class = next(iter(current))[0] if current else None
    current.add((c or prev_class, meth, line))

result, disagree = [], 0
for (c, meth, line), got in zip(frames, groups):
    want = derive(c, meth, line)
    if got is not None and got == want:
        result.append({"class": c, "method": meth, "line": line,
                       "candidates": sorted([list(x) for x in want])})
    else:
        disagree += 1
print(f"{mapping_path}: {len(result)} frames, {disagree} where the references disagree", file=sys.stderr)
json.dump(result, open(out_path, "w"))
