#!/usr/bin/env python3
"""The project files agree with each other (TAP output).

META.json follows the PGXN Meta Spec v1.0.0 (https://pgxn.org/meta/spec.txt):
its required keys, a SemVer version, a license of the spec's list, every
extension in provides with an existing file and a version; the versions it
gives are stategraph.control's default_version; CHANGELOG.md has a section
for that version; LICENSE is the PostgreSQL License named in META.json.
"""
import json
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
RANGE = re.compile(r"^\s*((==|!=|[<>]=?)\s*)?(\d+\.\d+\.\d+\S*)\s*$")
TERM = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
KEYS = {"name", "version", "abstract", "maintainer", "license", "provides", "meta-spec",
        "description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"}
n = 0
failed = 0


def check(ok, what):
    global n, failed
    n += 1
    failed += not ok
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what))


def version_range(r):
    """A PGXN version range: 0, or comma-separated [op] SemVer."""
    return r == 0 or r == "0" or (isinstance(r, str) and all(
        (m := RANGE.match(part)) and SEMVER.match(m.group(3)) for part in r.split(",")))


try:
    meta = json.load(open("META.json", encoding="utf-8"))
    check(isinstance(meta, dict), "META.json is a JSON object")
except ValueError as e:
    check(False, "META.json is valid JSON: %s" % e)
    meta = {}
control = dict(re.findall(r"^(\w+)\s*=\s*'?([^'\n]*)'?", open("stategraph.control").read(), re.M))

check({"name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"} <= set(meta),
      "META.json has every required key")
check(all(k in KEYS or re.match(r"^[xX]_.", k) for k in meta), "META.json has no key the spec does not define")
check(str(meta.get("meta-spec", {}).get("version", "")).startswith("1.0."), "meta-spec version 1.0.x")
check(bool(SEMVER.match(str(meta.get("version", "")))), "version is SemVer")
check(meta.get("version") == control.get("default_version"), "version is stategraph.control's default_version")
check(TERM.match(str(meta.get("name", ""))) is not None and isinstance(meta.get("abstract"), str)
      and meta["abstract"] != "", "name is a term, abstract a non-empty string")
check(meta.get("license") in LICENSES, "license is one of the spec's")
check(meta.get("release_status", "stable") in {"stable", "testing", "unstable"}, "release_status is valid")
provides = meta.get("provides", {})
check(isinstance(provides, dict) and len(provides) > 0 and all(
    TERM.match(name) and set(e) <= {"file", "version", "abstract", "docfile"} and os.path.isfile(e.get("file", ""))
    and (not e.get("docfile") or os.path.isfile(e["docfile"])) and SEMVER.match(str(e.get("version", "")))
    for name, e in provides.items()), "provides lists extensions with existing files and SemVer versions")
check(provides.get("stategraph", {}).get("version") == control.get("default_version"),
      "the extension's version is stategraph.control's default_version")
check(all(phase in {"configure", "build", "test", "runtime", "develop"}
          and all(rel in {"requires", "recommends", "suggests", "conflicts"}
                  and all(TERM.match(p) and version_range(r) for p, r in reqs.items())
                  for rel, reqs in rels.items())
          for phase, rels in meta.get("prereqs", {}).items()), "prereqs are phases, relationships and version ranges")
check(all(isinstance(t, str) and 2 <= len(t) <= 255 and "/" not in t for t in meta.get("tags", [])),
      "tags are valid")
changelog = open("CHANGELOG.md", encoding="utf-8").read()
check(re.search(r"^## %s\b" % re.escape(str(meta.get("version"))), changelog, re.M) is not None,
      "CHANGELOG.md has a section for version %s" % meta.get("version"))
check(meta.get("license") == "postgresql" and open("LICENSE").read().startswith("PostgreSQL License"),
      "LICENSE is the PostgreSQL License that META.json names")
print("1..%d" % n)
sys.exit(1 if failed else 0)
