#!/usr/bin/env python3
"""The ```sql blocks of a Markdown file, and the output shown after them.

  docblocks.py split FILE DIR
      writes DIR/NNN.sql for each ```sql block, DIR/NNN.out for the ```text
      (or plain ```) block that directly follows it (the output the page
      shows), and
      DIR/NNN.title with the heading the block is under
  docblocks.py compare SHOWN STDOUT STDERR
      checks that what a page shows is what psql printed: every non-blank
      line of SHOWN appears, in order, in STDOUT (or, for WARNING, DETAIL,
      HINT, NOTICE, ERROR lines, in STDERR). A page may leave lines out
      (psql's "(1 row)", results it does not discuss), never change them.
      Column widths, timestamps and UUIDs are not compared.
"""
import os
import re
import sys

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MESSAGE = re.compile(r"^(WARNING|DETAIL|HINT|NOTICE|ERROR|CONTEXT|INFO):")
PSQL_PREFIX = re.compile(r"^psql:[^:]*:\d+: ")


def split(path, outdir):
    """One file per block: NNN.sql, NNN.out (shown output), NNN.title."""
    lines = open(path, encoding="utf-8").read().split("\n")
    title, n, i = "", 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            title = line.lstrip("#").strip()
        if line.rstrip() == "```sql":
            n += 1
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            base = os.path.join(outdir, "%03d" % n)
            with open(base + ".sql", "w", encoding="utf-8") as f:
                f.write("\n".join(lines[i + 1:j]) + "\n")
            with open(base + ".title", "w", encoding="utf-8") as f:
                f.write(title + "\n")
            i = j + 1
            if i < len(lines) and lines[i].rstrip() in ("```text", "```"):
                k = i + 1
                while not lines[k].startswith("```"):
                    k += 1
                with open(base + ".out", "w", encoding="utf-8") as f:
                    f.write("\n".join(lines[i + 1:k]) + "\n")
                i = k + 1
            continue
        i += 1


def normalize(line):
    """A line as compared: no prefix of psql's, no widths, no times or ids."""
    line = PSQL_PREFIX.sub("", line.rstrip())
    line = TIMESTAMP.sub("<timestamp>", line)
    line = UUID.sub("<uuid>", line)
    line = re.sub(r" +", " ", line)
    line = re.sub(r"-+", "-", line)
    return line.strip()


def find_in_order(wanted, have):
    """The first line of wanted that is not found in have, in order, or None."""
    pos = 0
    for w in wanted:
        while pos < len(have) and have[pos] != w:
            pos += 1
        if pos == len(have):
            return w
        pos += 1
    return None


def compare(shown_path, stdout_path, stderr_path):
    read = lambda p: [normalize(l) for l in open(p, encoding="utf-8").read().split("\n")]
    shown = [l for l in read(shown_path) if l]
    results = [l for l in read(stdout_path) if l]
    messages = [l for l in read(stderr_path) if l]
    missing = find_in_order([l for l in shown if not MESSAGE.match(l)], results) \
        or find_in_order([l for l in shown if MESSAGE.match(l)], messages)
    if missing is not None:
        print("shown but not printed by psql (in this order): " + missing)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
