#!/usr/bin/env python3
"""The comparison table of compare.sh: one row per system and variant, the
median over runs of commits/s, p50, p99 and CPU ms per 1,000 commits, then
the ratios issue #15 asks for.

Usage: table.py ROWS   (ROWS: the "ROW system=... variant=... rate=...
p50=...us p99=...us cpu_ms_per_1k=..." lines compare.sh writes, one per run)
"""
import statistics
import sys
from collections import OrderedDict


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def read(path):
    groups = OrderedDict()
    for line in open(path):
        if not line.startswith("ROW "):
            continue
        kv = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
        key = (kv.get("system", "?"), kv.get("variant", "?"))
        groups.setdefault(key, []).append(kv)
    out = OrderedDict()
    for key, rows in groups.items():
        out[key] = {
            "runs": len(rows),
            "rate": med([num(r.get("rate")) for r in rows]),
            "p50": med([num(r.get("p50")) for r in rows]),
            "p99": med([num(r.get("p99")) for r in rows]),
            "cpu": med([num(r.get("cpu_ms_per_1k")) for r in rows]),
        }
    return out


def f(v, fmt):
    return "-" if v is None else fmt.format(v)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    t = read(sys.argv[1])
    print("| system | variant | runs | commits/s | p50 ms | p99 ms | CPU ms per 1,000 commits |")
    print("|---|---|---|---|---|---|---|")
    for (system, variant), r in t.items():
        p50 = None if r["p50"] is None else r["p50"] / 1000
        p99 = None if r["p99"] is None else r["p99"] / 1000
        print(f"| {system} | {variant} | {r['runs']} | {f(r['rate'], '{:,.0f}')} | {f(p50, '{:.3f}')} | "
              f"{f(p99, '{:.3f}')} | {f(r['cpu'], '{:,.0f}')} |")

    def get(system, variant, field="rate"):
        r = t.get((system, variant))
        return None if r is None else r[field]

    def ratio(label, a, b, field="rate"):
        x, y = get(*a, field=field), get(*b, field=field)
        if x is None or y is None or y == 0:
            print(f"  {label}: - (not measured)")
            return
        print(f"  {label}: {x / y:.2f}  ({x:,.0f} / {y:,.0f})")

    bdb = lambda n: ("bdb", f"acks=quorum,sync=sync,threads={n}")
    raft = lambda n: ("raft", f"appliers={n}")
    pg = lambda n: ("pg", f"synchronous_commit=on,clients={n}")
    resp = lambda n: ("logship", f"resp,writers={n}")
    resp2 = lambda n: ("logship", f"resp-2sites,writers={n}")
    emb = lambda n: ("logship", f"embedded,writers={n}")
    print()
    print("Ratios (medians; commits/s unless said):")
    ratio("RESP 16 writers / PostgreSQL 16 clients", resp(16), pg(16))
    ratio("RESP 16 writers / Berkeley DB 16 threads", resp(16), bdb(16))
    ratio("RESP 16 writers / raft 16 appliers", resp(16), raft(16))
    ratio("embedded 16 writers / Berkeley DB 16 threads", emb(16), bdb(16))
    ratio("embedded 16 writers / raft 16 appliers", emb(16), raft(16))
    best = max((a for a in (pg(1), bdb(1), raft(1)) if get(*a) is not None), key=lambda a: get(*a), default=None)
    if best is None:
        print("  RESP 1 writer / best anchor at 1: - (no anchor measured)")
    else:
        ratio(f"RESP 1 writer / best anchor at 1 ({best[0]} {best[1]})", resp(1), best)
    ratio("CPU per commit, RESP 16 writers / PostgreSQL 16 clients", resp(16), pg(16), field="cpu")
    ratio("CPU per commit, RESP 1 writer / PostgreSQL 1 client", resp(1), pg(1), field="cpu")
    print("Like for like with PostgreSQL's harness (two servers, both durable before the answer):")
    ratio("RESP 2 sites, 16 writers / PostgreSQL 16 clients", resp2(16), pg(16))
    ratio("RESP 2 sites, 1 writer / PostgreSQL 1 client", resp2(1), pg(1))
    ratio("CPU per commit, RESP 2 sites, 16 writers / PostgreSQL 16 clients", resp2(16), pg(16), field="cpu")
    ratio("CPU per commit, RESP 2 sites, 1 writer / PostgreSQL 1 client", resp2(1), pg(1), field="cpu")


if __name__ == "__main__":
    main()
