"""Asks a running symxd (through the `symx` CLI, as a user would) the positions whose answers
two references agree on, and counts where symx agrees with them.

  python3 compare.py SYMX ENDPOINT js JS_REFERENCES.json
  python3 compare.py SYMX ENDPOINT native SET BINARY EXPECTED.json
  python3 compare.py SYMX ENDPOINT jvm SET MAPPING EXPECTED.json

js: the output of js-references.js; each set's minified file and map are uploaded as a
`js_sourcemap` (service `conformance`, version = the set), then every position is asked; a
Hermes set's bytecode and map as a `react_native_sourcemap`, asked by bytecode offset.
native: the output of ../fixtures/native/references.py for BINARY, uploaded as an
`elf_symbol_file`; every address is asked by the file's GNU build id.
jvm: the output of jvm-references.py for MAPPING, uploaded as a `jvm_mapping_file`; every
frame is asked, and the set of (class, method, line) candidates compared.

Prints `conformance <set>: <agree>/<total> ...` per set and the disagreements (at most 20 per
set); exits 1 when symx disagrees with the references anywhere that known-differences.txt
does not list (a line: `<set> <position> <reason>`).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

symx, endpoint, kind = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))
BATCH = 5000


def run_symx(*args, stdin=None):
    p = subprocess.run([symx, "--endpoint", endpoint, *args], input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"symx {' '.join(args)} failed: {p.stderr}")
    return p.stdout


def symbolicate(frames, service="", version="", **stacktrace):
    """symx --json symbolicate on JSON frames, in batches; one result per frame."""
    out = []
    for i in range(0, len(frames), BATCH):
        req = {"stacktraces": [{"service": service, "version": version, "frames": frames[i:i + BATCH],
                                **stacktrace}]}
        resp = json.loads(run_symx("--json", "symbolicate", "-", stdin=json.dumps(req)))
        out.extend(resp["stacktraces"][0]["frames"])
    return out


known = set()
known_path = os.path.join(here, "known-differences.txt")
if os.path.exists(known_path):
    for line in open(known_path):
        line = line.strip()
        if line and not line.startswith("#"):
            s, pos = line.split()[:2]
            known.add((s, pos))

RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")


def norm_name(f):
    """A function name without its parameter list and Rust's hash suffix."""
    f = f or ""
    if "(" in f and not f.startswith("("):
        f = f[: f.index("(")]
    return RUST_HASH.sub("", f).strip()


def tally(name, pairs):
    """(position, wanted, got, detail) per asked position -> (total, wrong, unexplained)."""
    wrong, unexplained = [], []
    total = 0
    for pos, want, got, detail in pairs:
        total += 1
        if got != want:
            wrong.append(pos)
            if (name, pos) not in known:
                unexplained.append(f"{pos}: references {want}, symx {got or detail}")
    return total, wrong, unexplained


def report(name, total, wrong, unexplained):
    agree = total - len(wrong)
    pct = 100.0 * agree / total if total else 100.0
    print(f"conformance {name}: {agree}/{total} answers agree with both references ({pct:.2f}%), "
          f"{len(wrong) - len(unexplained)} listed differences")
    for w in unexplained[:20]:
        print(f"  {w}")
    return not unexplained


ok = True
if kind == "js":
    refs = json.load(open(sys.argv[4]))
    for s in refs:
        agreed = [p for p in s["positions"] if p["mozilla"] == p["trace_mapping"]]
        if s.get("kind") == "hermes":
            # A Hermes build's upload: the bytecode bundle and hermesc's map, as
            # `react_native_sourcemap`; frames as Hermes prints them (`address at
            # index.android.bundle:<segment + 1>:<offset>`).
            name = "hermes/" + s["set"]
            with tempfile.TemporaryDirectory() as d:
                bundle = os.path.join(d, "index.android.bundle")
                shutil.copy(s["minified"], bundle)
                run_symx("upload", "react", "--platform", "android", "--service", "conformance-hermes",
                         "--release-version", s["set"], "--build-version", "1", "--bundle", bundle,
                         "--sourcemap", s["map"], "--overwrite")
            frames = [{"abs_path": "index.android.bundle", "lineno": p["line"], "bytecode_offset": p["column"]}
                      for p in agreed]
            service = "conformance-hermes"
        else:
            name = "js/" + s["set"]
            url = f"https://conformance.invalid/{s['set']}.min.js"
            run_symx("upload", "js", s["minified"], s["map"], "--service", "conformance", "--version", s["set"],
                     "--minified-url", url, "--overwrite")
            frames = [{"abs_path": url, "lineno": p["line"], "colno": p["column"] + 1} for p in agreed]
            service = "conformance"
        results = symbolicate(frames, service, s["set"])
        def js_answer(r):
            if r["status"] == "resolved" and r["frames"] and r["frames"][0]["source"]:
                f = r["frames"][0]
                return {"source": f["source"], "line": f["lineno"], "column": f["colno"] - 1,
                        "name": f.get("symbol")}
            return None

        ok &= report(name, *tally(name, (
            (f"{p['line']}:{p['column']}", p["mozilla"], js_answer(r), f"{r['status']} {r.get('message') or ''}")
            for p, r in zip(agreed, results))))
elif kind == "native":
    name, binary, expected_path = sys.argv[4:7]
    expected = json.load(open(expected_path))
    notes = subprocess.run(["readelf", "-n", binary], capture_output=True, text=True, check=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
    run_symx("upload", "elf", binary, "--overwrite")
    frames = [{"code_id": build_id, "image_addr": 0, "instruction_addr": e["address"], "exact": True} for e in expected]
    results = symbolicate(frames)
    def native_answer(r):
        if r["status"] != "resolved":
            return []
        return [(norm_name(f.get("function")), f["source"], f["lineno"]) for f in r["frames"]]

    ok &= report(name, *tally(name, (
        (hex(e["address"]), [(norm_name(f["function"]), f["file"], f["line"]) for f in e["frames"]],
         native_answer(r), f"{r['status']} ({e['rule']})")
        for e, r in zip(expected, results))))
elif kind == "jvm":
    name, mapping, expected_path = sys.argv[4:7]
    expected = json.load(open(expected_path))
    run_symx("upload", "jvm", mapping, "--service", "conformance-jvm", "--version", name.replace("/", "-"),
             "--variant", "release", "--overwrite")
    frames = [{"class_name": e["class"], "method": e["method"], "lineno": e["line"]} for e in expected]
    results = symbolicate(frames, "conformance-jvm", name.replace("/", "-"), variant="release")

    def jvm_answer(e, r):
        if r["status"] == "out_of_range":
            # Not renamed by the mapping: symx keeps the frame as printed.
            return [(e["class"], e["method"], e["line"])]
        if r["status"] != "resolved":
            return []
        return sorted((f["class_name"], f["function"], f["lineno"]) for f in r["frames"])

    ok &= report(name, *tally(name, (
        (f"{e['class']}.{e['method']}:{e['line']}", sorted(tuple(c) for c in e["candidates"]),
         jvm_answer(e, r), f"{r['status']} {r.get('message') or ''}")
        for e, r in zip(expected, results))))
else:
    sys.exit(f"unknown kind {kind}")
sys.exit(0 if ok else 1)
