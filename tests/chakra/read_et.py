#!/usr/bin/python3
"""Reads an ET set with Python's protobuf (independent of kernbench's
reader) and prints, per type, the node count over all ranks: the check
that kernbench's export is what protobuf reads.
usage: read_et.py PYDIR PREFIX"""
import collections
import glob
import sys

sys.path.insert(0, sys.argv[1])
import et_def_pb2 as pb  # noqa: E402
from google.protobuf.internal.decoder import _DecodeVarint32  # noqa: E402

counts = collections.Counter()
files = sorted(glob.glob(sys.argv[2] + ".*.et"))
for path in files:
    data = open(path, "rb").read()
    pos, first = 0, True
    while pos < len(data):
        size, pos = _DecodeVarint32(data, pos)
        msg = pb.GlobalMetadata() if first else pb.Node()
        msg.ParseFromString(data[pos:pos + size])
        pos += size
        if first:
            assert msg.version == "0.0.4", msg.version
        else:
            counts[pb.NodeType.Name(msg.type)] += 1
        first = False
print(len(files), " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
