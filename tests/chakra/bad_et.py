#!/usr/bin/python3
"""Damaged and inconsistent ET sets for the bad-input tests, each written
by Python's protobuf from et_def.proto (usage: bad_et.py OUTDIR PYDIR)."""
import os
import sys

sys.path.insert(0, sys.argv[2])
import et_def_pb2 as pb  # noqa: E402
from google.protobuf.internal.encoder import _VarintBytes  # noqa: E402

OUT = sys.argv[1]


def blob(nodes):
    b = b""
    for m in [pb.GlobalMetadata(version="0.0.4")] + nodes:
        d = m.SerializeToString()
        b += _VarintBytes(len(d)) + d
    return b


def put(name, rank, data):
    with open(os.path.join(OUT, f"{name}.{rank}.et"), "wb") as f:
        f.write(data)


def comp(nid, deps=()):
    n = pb.Node(id=nid, name=f"c{nid}", type=pb.COMP_NODE)
    n.data_deps.extend(deps)
    n.attr.append(pb.AttributeProto(name="num_ops", int64_val=1000))
    return n


good = blob([comp(1), comp(2, [1])])
put("trunc", 0, good[:-3])                        # a node cut short
put("gap", 0, good)
put("gap", 2, good)                               # rank 1 missing
put("varint", 0, good[:len(good) - 12] + b"\xff" * 12)  # a varint that never ends
put("missing", 0, blob([comp(1), comp(2, [7])]))  # a dependency on a node that is not there
put("cycle", 0, blob([comp(1, [2]), comp(2, [1])]))
send = pb.Node(id=1, name="lonely_send", type=pb.COMM_SEND_NODE)
send.attr.extend([pb.AttributeProto(name="comm_dst", int32_val=1), pb.AttributeProto(name="comm_tag", int32_val=3),
                  pb.AttributeProto(name="comm_size", uint64_val=4096)])
put("unmatched", 0, blob([send]))
put("unmatched", 1, blob([comp(1)]))
huge = pb.Node(id=1, name="huge", type=pb.COMP_NODE)
huge.attr.append(pb.AttributeProto(name="tensor_size", uint64_val=1 << 63))
put("huge", 0, blob([huge]))
gather = pb.Node(id=1, name="gather", type=pb.COMM_COLL_NODE)
gather.attr.extend([pb.AttributeProto(name="comm_type", int64_val=pb.GATHER),
                    pb.AttributeProto(name="comm_size", uint64_val=4096)])
put("gather", 0, blob([gather]))
put("gather", 1, blob([gather]))

# two ranks that each wait for the other's message first: a simulated deadlock
for r in range(2):
    recv = pb.Node(id=1, name="recv_first", type=pb.COMM_RECV_NODE)
    recv.attr.extend([pb.AttributeProto(name="comm_src", int32_val=1 - r), pb.AttributeProto(name="comm_tag", int32_val=0),
                      pb.AttributeProto(name="comm_size", uint64_val=4096)])
    send = pb.Node(id=2, name="send_after", type=pb.COMM_SEND_NODE, data_deps=[1])
    send.attr.extend([pb.AttributeProto(name="comm_dst", int32_val=1 - r), pb.AttributeProto(name="comm_tag", int32_val=0),
                      pb.AttributeProto(name="comm_size", uint64_val=4096)])
    put("crossed", r, blob([recv, send]))
