"""goldentsv.py - reads the literal tables of tests/golden/*.tsv for the
Python golden tests (golden_raw.py, golden_broadcast.py): '#' comment lines,
one header line naming the columns, TAB-separated rows."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def table(name):
    """The rows of tests/golden/<name> as dicts keyed by column name."""
    rows, cols = [], None
    for line in open(os.path.join(HERE, name)):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if cols is None:
            cols = line.split("\t")
        else:
            rows.append(dict(zip(cols, line.split("\t"))))
    return rows


_fails = [0]


def report(ok, what, got, want):
    """Prints 'ok   <what>' or 'FAIL <what>: got ..., want ...' and counts failures."""
    if not ok:
        _fails[0] += 1
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else ": got %s, want %s" % (got, want)))


def failures():
    return _fails[0]


def body(n):
    """A JSON object of exactly n bytes (n >= 20)."""
    return b'{"aps":{"alert":"' + b"x" * (n - 20) + b'"}}'
