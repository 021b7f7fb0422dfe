#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes expected.txt ("name value" lines) for test_measure by running the reference
# implementation, virtee/sev-snp-measure (checked out at REF, tested at commit 8f2b337), on the
# inputs gen.py writes (IN; default build/tests/measure, which `make build/tests/measure/fw.bin`
# fills). The initdata digests have no reference tool: they are hashlib's digest of the
# decompressed TOML, zero-padded or truncated as Kata's adjustProperLength does.
# Usage: REF=/path/to/sev-snp-measure [IN=DIR] sh vectors.sh > expected.txt
set -eu
REF=${REF:?set REF to a sev-snp-measure checkout}
HERE=$(cd "$(dirname "$0")" && pwd)
IN=${IN:-$HERE/../../../build/tests/measure}
M="python3 $REF/sev-snp-measure.py --ovmf $IN/fw.bin"
K="--kernel $IN/bzImage --initrd $IN/initrd"
A="console=ttyS0 root=/dev/vda rw"

echo "sev $($M --mode sev $K --append "$A")"
echo "sev-nokernel $($M --mode sev)"
echo "sev-kernel-only $($M --mode sev --kernel $IN/bzImage)"
echo "seves-1 $($M --mode seves --vcpus 1 --vcpu-type EPYC-v4 $K --append "$A")"
echo "seves-4 $($M --mode seves --vcpus 4 --vcpu-type EPYC-Rome $K --append "$A")"
echo "snp-1 $($M --mode snp --vcpus 1 --vcpu-type EPYC-v4 --guest-features 0x1 $K --append "$A")"
echo "snp-4-milan-21 $($M --mode snp --vcpus 4 --vcpu-type EPYC-Milan --guest-features 0x21 $K --append "$A")"
echo "snp-2-genoa-nokernel $($M --mode snp --vcpus 2 --vcpu-type EPYC-Genoa --guest-features 0x1)"
echo "snp-plain-nokernel $(python3 $REF/sev-snp-measure.py --ovmf $IN/fw-plain.bin --mode snp --vcpus 1 \
	--vcpu-type EPYC-v4)"
T=$(mktemp -d)
(cd "$T" && $M --mode snp --vcpus 2 --vcpu-type EPYC-Milan --guest-features 0x21 --dump-vmsa >/dev/null)
echo "vmsa-bsp-milan-21 $(sha256sum "$T/vmsa0.bin" | cut -d' ' -f1)"
echo "vmsa-ap-milan-21 $(sha256sum "$T/vmsa1.bin" | cut -d' ' -f1)"
rm -rf "$T"
cd "$REF"
python3 - "$IN" "$A" <<'PY'
import hashlib, sys
from sevsnpmeasure.sev_hashes import SevHashes
from sevsnpmeasure.gctx import GCTX
from sevsnpmeasure.vcpu_types import CPU_SIGS
here, append = sys.argv[1], sys.argv[2]
print("hash-table", SevHashes(f"{here}/bzImage", f"{here}/initrd", append).construct_table().hex())
print("hash-table-noinitrd", SevHashes(f"{here}/bzImage", None, None).construct_table().hex())
g = GCTX()
g.update_normal_pages(0xfffff000, bytes([0x5a]) * 4096)
print("page-info-normal", g.hex_ld())
g.update_vmsa_page(bytes(4096))
print("page-info-then-vmsa", g.hex_ld())
g = GCTX()
g.update_zero_pages(0x800000, 4096)
print("page-info-zero", g.hex_ld())
for t in ("EPYC", "EPYC-v4", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"):
    print(f"sig-{t}", hex(CPU_SIGS[t]))
for alg in ("sha256", "sha384", "sha512"):
    d = hashlib.new(alg, open(f"{here}/initdata-{alg}.toml", "rb").read()).digest()
    print(f"initdata-{alg}", d.hex())
    print(f"initdata-{alg}-snp", (d + bytes(32))[:32].hex())
    print(f"initdata-{alg}-tdx", (d + bytes(48))[:48].hex())
PY
