#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the small, synthetic inputs of test_measure (no real OVMF or kernel):

  fw.bin       16 KiB "firmware": filler, an edk2-style GUIDed footer table (SEV hash table
               area, SEV-ES reset block, SEV metadata offset) and "ASEV" metadata with one
               section of each SNP type
  fw-plain.bin the same without the hash table entry and the kernel hashes section, as a
               non-AmdSev OVMF build has
  bzImage      8 KiB with a valid setup header (HdrS, protocol 2.15, 3 setup sectors)
  initrd       1 KiB of filler
  initdata-*.b64  base64(gzip(TOML)) annotations, and initdata-bomb.b64 (over the 256 KiB cap)

Usage: gen.py OUTDIR (the build runs it into build/tests/measure; the inputs are build
products, never committed). Deterministic (fixed gzip mtime), so every run gives the same
bytes, which expected.txt's digests are of. vectors.sh runs the reference implementation on
them and writes expected.txt.
"""
import base64
import gzip
import hashlib
import os
import struct
import sys
import uuid

FW_SIZE = 16 * 1024


def filler(seed, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + struct.pack("<I", i)).digest()
        i += 1
    return out[:n]


def guid(s):
    return uuid.UUID(s).bytes_le


FOOTER = "96b582de-1fb2-45f7-baea-a366c55a082d"
HASH_RV = "7255371f-3a3b-4b04-927b-1da6efa8d454"
RESET = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
META = "dc886566-984a-4798-a75e-5585a7bf67cc"
META_AT = 0x3100  # where the ASEV header sits in the image


def firmware(with_hashes):
    img = bytearray(filler(b"runvm-fw", FW_SIZE))
    sections = [(0x800000, 0x2000, 1), (0x802000, 0x1000, 2), (0x803000, 0x1000, 3)]
    if with_hashes:
        sections.append((0x804000, 0x1000, 0x10))
    sections.append((0x805000, 0x1000, 4))
    sections.append((0x806000, 0x3000, 1))
    meta = b"ASEV" + struct.pack("<III", 16 + 12 * len(sections), 1, len(sections))
    for gpa, size, typ in sections:
        meta += struct.pack("<III", gpa, size, typ)
    img[META_AT:META_AT + len(meta)] = meta

    def entry(g, data):
        return data + struct.pack("<H", len(data) + 18) + guid(g)

    entries = entry(META, struct.pack("<I", FW_SIZE - META_AT))
    if with_hashes:
        entries += entry(HASH_RV, struct.pack("<II", 0x804c00, 0x400))
    entries += entry(RESET, struct.pack("<I", 0x80b004))
    footer = struct.pack("<H", len(entries) + 18) + guid(FOOTER)
    table = entries + footer
    end = FW_SIZE - 32
    img[end - len(table):end] = table
    return bytes(img)


def bzimage():
    img = bytearray(filler(b"runvm-bzimage", 8192))
    img[0x1f1] = 3                              # setup_sects: setup part is 2048 bytes
    img[0x1fe:0x200] = b"\x55\xaa"
    img[0x202:0x206] = b"HdrS"
    img[0x206:0x208] = struct.pack("<H", 0x020f)
    img[0x210] = 0                              # type_of_loader: QEMU would patch it
    img[0x211] = 0x01                           # LOADED_HIGH
    return bytes(img)


TOML = """algorithm = "{alg}"
version = "0.1.0"

[data]
"aa.toml" = '''
[token_configs]
[token_configs.kbs]
url = "http://kbs.example:8080"
'''
"policy.rego" = '''
package agent_policy
default AllowRequestsFailingPolicy := true
'''
"""


def annotation(data):
    return base64.b64encode(gzip.compress(data, mtime=0)).decode() + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    files = {
        "fw.bin": firmware(True),
        "fw-plain.bin": firmware(False),
        "bzImage": bzimage(),
        "initrd": filler(b"runvm-initrd", 1024),
    }
    for alg in ("sha256", "sha384", "sha512"):
        toml = TOML.format(alg=alg).encode()
        files[f"initdata-{alg}.toml"] = toml
        files[f"initdata-{alg}.b64"] = annotation(toml).encode()
    files["initdata-bomb.b64"] = annotation(
        b'algorithm = "sha256"\nversion = "0.1.0"\n' + b"#" * (300 * 1024)).encode()
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
