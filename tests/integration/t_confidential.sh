# Confidential modes (sourced by run.sh): a container that asks for SEV, SEV-SNP or TDX, from the
# configuration or its annotation io.runvm.confidential, where the host cannot give it, is
# refused before anything starts with the one reason `runvm check` gives for that mode; auto
# where the host offers none is refused too, never run as an ordinary VM. (These machines have
# no SEV or TDX: tests/unit/test_confidential.c drives the refusals past the host's part with
# fake hosts and a stand-in QEMU.)

# cc_conf MODE: the suite's configuration with confidential = MODE.
cc_conf() {
	sed -e '/^confidential *=/d' -e "s|^\[runvm\]\$|[runvm]\nconfidential = $1|" "$RUNVM_CONFIG" >"$work/cc.conf"
}
# cc_reason MODE: what `runvm check` says the host lacks for MODE, or empty where it offers it.
cc_reason() { "$RUNVM" check | sed -n "s/^$1 *no: //p"; }

make_config "$bundle" '["true"]'
for mode in sev sev-snp tdx; do
	why=$(cc_reason "$mode")
	if [ -z "$why" ]; then
		skip "confidential = $mode: this host offers $mode (runvm check), so no refusal to test"
		continue
	fi
	cc_conf "$mode"
	RUNVM_CONFIG=$work/cc.conf expect_error "confidential = $mode where the host lacks it: refused with check's reason" \
		"confidential guest \`$mode\`: $why" "cc-$mode" "$RUNVM"
done

if [ -n "$(cc_reason sev)" ] && [ -n "$(cc_reason sev-snp)" ] && [ -n "$(cc_reason tdx)" ]; then
	cc_conf auto
	RUNVM_CONFIG=$work/cc.conf expect_error "confidential = auto on a host that offers none: refused, not run plain" \
		"confidential guest (auto): this host offers none: tdx: $(cc_reason tdx)" cc-auto "$RUNVM"
else
	skip "confidential = auto: this host offers a confidential mode"
fi

# The annotation asks for more than the configuration (none here) says: the same refusal.
make_config "$bundle" '["true"]' 'c["annotations"] = {"io.runvm.confidential": "tdx"}'
if [ -n "$(cc_reason tdx)" ]; then
	expect_error "annotation io.runvm.confidential=tdx: refused with check's reason" \
		"confidential guest \`tdx\`: $(cc_reason tdx)" cc-ann "$RUNVM"
else
	skip "annotation tdx: this host offers tdx"
fi
make_config "$bundle" '["true"]' 'c["annotations"] = {"io.runvm.confidential": "none"}'
cc_conf sev
RUNVM_CONFIG=$work/cc.conf expect_error "annotation none under confidential = sev: a container cannot lower it" \
	"a container cannot change its configured protection" cc-lower "$RUNVM"
make_config "$bundle" '["true"]' 'c["annotations"] = {"io.runvm.confidential": "SEV"}'
expect_error "annotation io.runvm.confidential=SEV: an unknown mode" \
	"must be none, sev, sev-snp, tdx or auto, not \`SEV\`" cc-bad "$RUNVM"

# The same container, none asked: it runs (the modes cost an ordinary container nothing).
rv cc-none '["echo", "plain"]' 'c["annotations"] = {"io.runvm.confidential": "none"}'
check "annotation none: an ordinary guest runs" eval '[ "$rc" = 0 ] && [ "$out" = plain ]'
