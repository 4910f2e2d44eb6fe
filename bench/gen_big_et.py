#!/usr/bin/python3
"""A big Chakra ET set for the import benchmark, encoded by hand (the wire
format: varint-delimited GlobalMetadata then Node messages): RANKS files of
NODES / RANKS nodes each, COMP nodes in a chain with a data dependency on
the node before, an all-reduce every 1000 nodes.
usage: gen_big_et.py PREFIX NODES RANKS"""
import sys

prefix, nodes, ranks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num, wt, body):
    tag = varint(num << 3 | wt)
    return tag + (varint(len(body)) + body if wt == 2 else body)


def attr(name, num, v):
    return field(10, 2, field(1, 2, name.encode()) + field(num, 0, varint(v)))


def delimited(msg):
    return varint(len(msg)) + msg


for r in range(ranks):
    parts = [delimited(field(1, 2, b"0.0.4"))]
    for i in range(nodes // ranks):
        coll = i % 1000 == 999
        msg = field(1, 0, varint(i)) + field(2, 2, b"ar" if coll else b"comp") + field(3, 0, varint(7 if coll else 4))
        if i:
            msg += field(5, 2, varint(i - 1))
        if coll:
            msg += attr("comm_type", 9, 0) + attr("comm_size", 13, 65536)
        else:
            msg += attr("num_ops", 9, 1 << 20) + attr("tensor_size", 13, 4096)
        parts.append(delimited(msg))
    with open(f"{prefix}.{r}.et", "wb") as f:
        f.write(b"".join(parts))
