#!/usr/bin/env python3
"""README's Reference against the installed extension.

  reference.py functions README.md DB
      every row of "### Functions" whose function cell gives its arguments
      with their types is, argument names, types, defaults, result and kind
      (CALL: a procedure), exactly a function of the extension: the row is
      created as a function in a scratch schema, so that PostgreSQL's parser
      spells it the way the catalog does, and the two are compared; the
      **Types** paragraph gives each result type's columns in order
  reference.py settings README.md DB
      every stategraph.* setting of pg_settings has a row in "### Settings"
      whose default is its boot value and whose range is its min_val and
      max_val ("`A` to `B`", "`A` or more" for a maximum of INT_MAX, empty
      for a boolean), and every row names a real setting;
      a setting only the postmaster reads says "restart", one only
      superusers change says "superuser"; the prose below the table says
      that a reload takes up each setting the postmaster reads at a reload
      (sighup, superuser), and that a user's setting is set per session
  reference.py errors README.md [DB]
      every SQLSTATE that src/*.c and the install scripts raise is a row of
      "### Errors" (or is listed below as internal), and every row's
      SQLSTATE is one they raise

Prints one line per problem; exits 1 if there is any. DB is a database where
the stategraph extension is created. psql is used as the client, and
$PG_CONFIG (or pg_config on PATH) finds PostgreSQL's errcodes.txt.
"""
import glob
import os
import re
import subprocess
import sys

# SQLSTATEs the code raises that are not a user's error, so not in the table:
INTERNAL = {
    "XX000": "could not generate random values (the OS failed)",
    "39P01": "a trigger function called other than as a trigger",
    "57014": "query_canceled, re-raised as it came",
}


def section(readme, title):
    """The lines of README's section "### title", up to the next heading."""
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"^### " + re.escape(title) + r"\n(.*?)(?=^##)", text, re.M | re.S)
    return m.group(1) if m else ""


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []


def psql(db, sql):
    r = subprocess.run(["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-d", db],
                       input=sql, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    return r.stdout


def split_args(s):
    """Top-level comma split (DEFAULT values may hold commas in quotes or parentheses)."""
    out, depth, quote, cur = [], 0, False, ""
    for ch in s:
        if ch == "'" :
            quote = not quote
        elif not quote and ch in "([":
            depth += 1
        elif not quote and ch in ")]":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def functions(readme, db):
    problems = []
    rows = []
    abbreviated = []
    for line in section(readme, "Functions").splitlines():
        c = cells(line)
        if len(c) < 2:
            continue
        m = re.match(r"`(CALL )?([a-z_]+\.)?([a-z_]+)\(([^`]*)\)`", c[0])   # (a remark may follow)
        if not m:
            continue
        call, schema, name, args = m.group(1), (m.group(2) or "").rstrip("."), m.group(3), m.group(4)
        arglist = split_args(args)
        if schema == "stategraph_router":
            continue            # another extension, another database
        if any(len(a.split()) < 2 for a in arglist):
            # an abbreviated row ("as sg_invoke's"): its argument names, in order
            abbreviated.append((name, schema or "public", [a.split()[0].strip('"') for a in arglist]))
            continue
        ret = c[1].strip("`") if c[1] else ""
        rows.append((call, schema or "public", name, arglist, ret))
    if not rows:
        return ["no function rows with typed arguments found"]
    sql = ["BEGIN;", "CREATE SCHEMA readme_ref;", "SET LOCAL search_path = readme_ref, public, stategraph;",
           "CREATE TABLE readme_ref.home (name text, schema text);"]
    for i, (call, schema, name, arglist, ret) in enumerate(rows):
        args = list(arglist)
        m = re.fullmatch(r"SETOF \((.*)\)", ret)
        if m:
            args += ["OUT " + a for a in split_args(m.group(1))]
            ret = "SETOF record"
        if call:
            sql.append("CREATE PROCEDURE readme_ref.%s(%s) LANGUAGE plpgsql AS 'BEGIN END';" % (name, ", ".join(args)))
        else:
            sql.append("CREATE FUNCTION readme_ref.%s(%s) RETURNS %s LANGUAGE plpgsql AS 'BEGIN END';"
                       % (name, ", ".join(args), ret))
        sql.append("INSERT INTO readme_ref.home VALUES ('%s', '%s');" % (name, schema))
    sql.append("""
CREATE FUNCTION pg_temp.sig(f oid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.proname || '(' || regexp_replace(pg_get_function_arguments(p.oid), '\\m(readme_ref|public|stategraph)\\.', '', 'g')
           || ') -> ' || CASE p.prokind WHEN 'p' THEN 'procedure'
                         ELSE regexp_replace(pg_get_function_result(p.oid), '\\m(readme_ref|public|stategraph)\\.', '', 'g') END
    FROM pg_proc p WHERE p.oid = f $$;
SELECT pg_temp.sig(r.oid) || E'\\t' || COALESCE((SELECT string_agg(pg_temp.sig(p.oid), '; ') FROM pg_proc p
        WHERE p.pronamespace = (SELECT DISTINCT h.schema FROM readme_ref.home h WHERE h.name = r.proname)::regnamespace
          AND p.proname = r.proname
          AND pg_get_function_identity_arguments(p.oid) = pg_get_function_identity_arguments(r.oid)), 'missing')
FROM pg_proc r WHERE r.pronamespace = 'readme_ref'::regnamespace ORDER BY 1;
ROLLBACK;""")
    try:
        out = psql(db, "\n".join(sql))
    except RuntimeError as e:
        return ["the reference's signatures do not parse: %s" % e]
    for line in out.splitlines():
        doc, real = line.split("\t")
        if doc != real:
            problems.append("README: %s\n    catalog: %s" % (doc, real))
    if len(out.splitlines()) != len(rows):
        problems.append("%d rows, %d functions compared" % (len(rows), len(out.splitlines())))
    # the **Types** paragraph: each composite type's columns, in order
    prose = " ".join(section(readme, "Functions").split())
    m = re.search(r"\*\*Types\*\*:(.*?)(?:\.\s|$)", prose)
    types = re.findall(r"`(sg_[a-z_]+)` \([^()`]*(?:`[^`]*`[^()`]*)*?`([^`]*,[^`]*)`\)", m.group(1)) if m else []
    if not types:
        problems.append("no **Types** paragraph with the types' columns found")
    for typ, columns in types:
        documented = ", ".join(c.strip().strip('"') for c in columns.split(","))
        real = psql(db, "SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a "
                        "WHERE a.attrelid = (SELECT t.typrelid FROM pg_catalog.pg_type t WHERE t.typname = '%s' "
                        "AND t.typnamespace = (SELECT e.extnamespace FROM pg_catalog.pg_extension e "
                        "WHERE e.extname = 'stategraph')) AND a.attnum > 0 AND NOT a.attisdropped" % typ).strip()
        if documented != real:
            problems.append("README: type %s (%s)\n    catalog: %s" % (typ, documented, real or "missing"))
    for typ in psql(db, "SELECT t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_depend d "
                        "ON d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = t.oid AND d.deptype = 'e' "
                        "JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph' "
                        "WHERE t.typtype = 'c' ORDER BY 1").split():
        if typ not in dict(types):
            problems.append("type %s is not in the **Types** paragraph" % typ)
    for name, schema, names in abbreviated:
        real = psql(db, "SELECT string_agg(array_to_string(p.proargnames[1:p.pronargs], ','), ';') FROM pg_proc p "
                        "WHERE p.pronamespace = '%s'::regnamespace AND p.proname = '%s'" % (schema, name)).strip()
        if ",".join(names) not in real.split(";"):
            problems.append("README: %s(%s)\n    catalog: %s(%s)" % (name, ", ".join(names), name, real or "missing"))
    return problems


UNITS = {"kB": 1, "MB": 1024, "GB": 1024 * 1024, "ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


def value(text, unit):
    """A README default ("16MB", "5min", "off") in pg_settings' unit."""
    m = re.fullmatch(r"(-?\d+)\s*(kB|MB|GB|ms|s|min|h|d)?", text)
    if not m or not unit:
        return text
    base = {"kB": "kB", "8kB": "kB", "ms": "ms", "s": "s", "min": "min"}.get(unit, unit)
    n = int(m.group(1)) * UNITS[m.group(2) or base] / UNITS[base]
    return str(int(n)) if n == int(n) else str(n)


def settings(readme, db):
    problems = []
    documented = {}
    for line in section(readme, "Settings").splitlines():
        c = cells(line)
        if len(c) >= 4 and c[0].startswith("`stategraph."):
            documented[c[0].strip("`")] = (c[1].strip("`"), c[2], c[3])
    real = {}
    for line in psql(db, "SELECT name, boot_val, coalesce(unit, ''), context, vartype, coalesce(min_val, ''), "
                         "coalesce(max_val, '') FROM pg_settings WHERE name LIKE 'stategraph.%'").splitlines():
        name, boot, unit, context, vartype, min_val, max_val = line.split("|")
        real[name] = (boot, unit, context, vartype, min_val, max_val)
    if not real:
        return ["no stategraph.* settings in pg_settings (is the library loaded?)"]
    for name, (boot, unit, context, vartype, min_val, max_val) in sorted(real.items()):
        if name not in documented:
            problems.append("%s (default %s%s, %s) is not in ### Settings" % (name, boot, unit, context))
            continue
        default, span, what = documented[name]
        if value(default, unit) != boot:
            problems.append("%s: README's default %s, boot value %s%s" % (name, default, boot, unit))
        m = re.match(r"`([^`]+)` (?:to `([^`]+)`|or more)", span)
        if vartype == "bool":
            ok = span == ""
        elif not m:
            ok = False
        else:
            ok = (value(m.group(1), unit) == min_val
                  and (value(m.group(2), unit) if m.group(2) else "2147483647") == max_val)
        if not ok:
            problems.append("%s: README's range \"%s\", pg_settings' %s to %s%s"
                            % (name, span, min_val or "-", max_val or "-", unit))
        if context == "postmaster" and "restart" not in what:
            problems.append("%s: context postmaster, README does not say restart" % name)
        if context == "superuser" and "superuser" not in what:
            problems.append("%s: context superuser, README does not say superuser" % name)
    for name in documented:
        if name not in real:
            problems.append("%s is in ### Settings but not a setting" % name)
    # the prose below the table says how each setting is changed: a session's
    # own (context user) "per session", the others "on a reload"
    prose = " ".join(l for l in section(readme, "Settings").splitlines() if not l.startswith("|"))
    sentences = re.split(r"(?<=\.)\s+(?=[`A-Z])", prose)
    for name, (boot, unit, context, _, _, _) in sorted(real.items()):
        short = "`%s`" % name[len("stategraph."):]
        said = [t for t in sentences if short in t]
        if context == "user" and not any("per session" in t for t in said):
            problems.append("%s: context user, README's Settings do not say it is set per session" % name)
        if context in ("sighup", "superuser") and not any("reload" in t for t in said):
            problems.append("%s: context %s, README's Settings do not say a reload takes it up" % (name, context))
    return problems


def raised():
    """SQLSTATE -> where, of every error the C code, the install scripts and the router raise."""
    names = {}      # ERRCODE_X and its condition name -> SQLSTATE, from PostgreSQL's errcodes.txt
    pg_config = os.environ.get("PG_CONFIG", "pg_config")
    sharedir = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True, check=True).stdout.strip()
    for line in open(os.path.join(sharedir, "errcodes.txt"), encoding="utf-8"):
        f = line.split()
        if len(f) >= 3 and re.fullmatch(r"[0-9A-Z]{5}", f[0]) and f[2].startswith("ERRCODE_"):
            names[f[2]] = f[0]
            if len(f) >= 4:
                names.setdefault("ERRCODE_" + f[3].upper(), f[0])    # null_value_not_allowed: 22004, not 39004
    for m in re.finditer(r"#define (ERRCODE_SG_\w+)\s+MAKE_SQLSTATE\('(.)','(.)','(.)','(.)','(.)'\)",
                         open("src/stategraph.h", encoding="utf-8").read()):
        names[m.group(1)] = "".join(m.group(i) for i in range(2, 7))
    found = {}
    for path in sorted(glob.glob("src/*.c")):
        for m in re.finditer(r"(?:errcode\(|sqlerrcode = )(ERRCODE_\w+)", open(path, encoding="utf-8").read()):
            code = names.get(m.group(1), "?" + m.group(1))
            found.setdefault(code, path)
    for path in sorted(glob.glob("sql/stategraph--*.sql")) + sorted(glob.glob("router/stategraph_router--*.sql")):
        for m in re.finditer(r"ERRCODE = '(\w+)'", open(path, encoding="utf-8").read()):
            if re.fullmatch(r"[0-9A-Z]{5}", m.group(1)):
                code = m.group(1)       # a SQLSTATE itself (the router's SG016)
            else:
                code = names.get("ERRCODE_" + m.group(1).upper(), "?" + m.group(1))
            found.setdefault(code, path)
    return found


def errors(readme):
    problems = []
    table = set()
    for line in section(readme, "Errors").splitlines():
        c = cells(line)
        if c and re.fullmatch(r"[0-9A-Z]{5}", c[0]):
            table.add(c[0])
    found = raised()
    for code, where in sorted(found.items()):
        if code.startswith("?"):
            problems.append("%s (%s): no SQLSTATE known for it" % (code[1:], where))
        elif code not in table and code not in INTERNAL:
            problems.append("%s (raised in %s) is not in ### Errors" % (code, where))
    for code in sorted(table - set(found)):
        problems.append("%s is in ### Errors but nothing raises it" % code)
    return problems


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    kind, readme = sys.argv[1], sys.argv[2]
    if kind == "functions":
        found = functions(readme, sys.argv[3])
    elif kind == "settings":
        found = settings(readme, sys.argv[3])
    elif kind == "errors":
        found = errors(readme)
    else:
        sys.exit(__doc__)
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
