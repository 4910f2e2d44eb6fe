#!/usr/bin/python3
"""Writes Chakra ET sets with Python's protobuf (an encoder independent of
kernbench's), in the layout ASTRA-sim's microbenchmarks use: one
NAME.<rank>.et per NPU, a GlobalMetadata then Node messages, each preceded
by its varint length.

usage: gen_et.py OUTDIR PYDIR   (PYDIR holds et_def_pb2.py from protoc)
"""
import os
import sys

sys.path.insert(0, sys.argv[2])
import et_def_pb2 as pb  # noqa: E402
from google.protobuf.internal.encoder import _VarintBytes  # noqa: E402

OUT = sys.argv[1]
VERSION = "0.0.4"


def attr(name, **kv):
    return pb.AttributeProto(name=name, **kv)


def write(name, rank, nodes, meta_attrs=()):
    with open(os.path.join(OUT, f"{name}.{rank}.et"), "wb") as f:
        for msg in [pb.GlobalMetadata(version=VERSION, attr=list(meta_attrs))] + nodes:
            data = msg.SerializeToString()
            f.write(_VarintBytes(len(data)))
            f.write(data)


def node(nid, name, ntype, data_deps=(), ctrl_deps=(), attrs=(), duration=0):
    n = pb.Node(id=nid, name=name, type=ntype, duration_micros=duration)
    n.data_deps.extend(data_deps)
    n.ctrl_deps.extend(ctrl_deps)
    n.attr.extend(attrs)
    return n


def coll(nid, name, comm_type, size, deps=()):
    return node(nid, name, pb.COMM_COLL_NODE, deps, attrs=[
        attr("is_cpu_op", bool_val=False), attr("comm_type", int64_val=comm_type),
        attr("comm_size", uint64_val=size),
        attr("involved_dim", bool_list=pb.BoolList(values=[True]))])


def comp(nid, name, num_ops, tensor_size, deps=()):
    return node(nid, name, pb.COMP_NODE, deps, attrs=[
        attr("is_cpu_op", bool_val=False), attr("num_ops", int64_val=num_ops),
        attr("tensor_size", uint64_val=tensor_size)])


# ASTRA-sim's microbenchmark: one all-reduce of 1 MiB per NPU, 8 and 64 NPUs
for npus in (8, 64):
    for r in range(npus):
        write(f"allreduce_{npus}", r, [coll(0, "ALL_REDUCE", pb.ALL_REDUCE, 1 << 20)])

# every collective type, 8 NPUs, and a compute chain around them
for r in range(8):
    write("colls_8", r, [
        comp(1, "fwd", 1 << 30, 1 << 20),
        coll(2, "AG", pb.ALL_GATHER, 1 << 16, [1]),
        coll(3, "RS", pb.REDUCE_SCATTER, 1 << 16, [2]),
        coll(4, "A2A", pb.ALL_TO_ALL, 1 << 16, [3]),
        coll(5, "BCAST", pb.BROADCAST, 1 << 16, [4]),
        comp(6, "bwd", 1 << 30, 1 << 20, [5]),
    ])

# a 2-rank pipeline: rank 0 computes and sends, rank 1 receives and
# computes; memory nodes, a CPU op, ctrl deps and unknown fields on the way
for r in range(2):
    if r == 0:
        nodes = [
            node(10, "load", pb.MEM_LOAD_NODE, attrs=[attr("tensor_size", uint64_val=1 << 20)]),
            comp(11, "stage0", 1 << 32, 1 << 20, [10]),
            node(12, "send", pb.COMM_SEND_NODE, [11], attrs=[
                attr("comm_src", int32_val=0), attr("comm_dst", int32_val=1),
                attr("comm_tag", int32_val=7), attr("comm_size", uint64_val=1 << 20)]),
            node(13, "cpu", pb.COMP_NODE, ctrl_deps=[12], attrs=[attr("is_cpu_op", bool_val=True)], duration=5),
        ]
    else:
        nodes = [
            node(20, "recv", pb.COMM_RECV_NODE, attrs=[
                attr("comm_src", int32_val=0), attr("comm_dst", int32_val=1),
                attr("comm_tag", int32_val=7), attr("comm_size", uint64_val=1 << 20)]),
            comp(21, "stage1", 1 << 32, 1 << 20, [20]),
            node(22, "store", pb.MEM_STORE_NODE, [21], attrs=[attr("tensor_size", uint64_val=1 << 20)]),
            node(23, "timed", pb.COMP_NODE, [22], attrs=[attr("is_cpu_op", bool_val=False)], duration=10),
        ]
        nodes[1].inputs.CopyFrom(pb.IOInfo(values="[1]", shapes="[[2,3]]", types="['float']"))
    write("p2p_2", r, nodes, [attr("note", string_val="written by gen_et.py")])
