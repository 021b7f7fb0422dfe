/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "hypervisor-backends/backend.h"
#include "hypervisor-backends/libvirt/domain-xml.h"
#include "protocol/agent-proto.h"
#include "tdx/libvirt.h"
#include "tdx/qemu.h"

/* The namespace of the <metadata> element that names the container, for tools that read domains. */
#define RUNVM_XMLNS "https://runvm.dev/xmlns/libvirt/container/1"

static void attr(xmlNodePtr n, const char *name, const char *value)
{
	xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

/* A child element, with @text (escaped by libxml2) or empty for NULL. */
static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static xmlNodePtr child_attr(xmlNodePtr parent, const char *name, const char *a, const char *v)
{
	xmlNodePtr n = child(parent, name, NULL);

	attr(n, a, v);
	return n;
}

static void add_os(xmlNodePtr dom, const struct lv_domain *d)
{
	const struct hv_vm_config *cfg = d->cfg;
	xmlNodePtr os = child(dom, "os", NULL);
	xmlNodePtr type = child(os, "type", "hvm");

	attr(type, "arch", rv_arch_name(cfg->arch));
	attr(type, "machine", d->machine);
	/* Direct kernel boot, through the firmware of a confidential guest (measured). */
	if (cfg->firmware)
		cc_libvirt_loader(os, cfg->firmware);
	child(os, "kernel", cfg->kernel);
	child(os, "initrd", cfg->initrd);
	child(os, "cmdline", d->cmdline);
}

static void add_cpu(xmlNodePtr dom, const struct lv_domain *d)
{
	xmlNodePtr features;

	if (d->cfg->confidential == HV_CONFIDENTIAL_SEV_SNP) {
		/* SNP's fixed model: its VMSAs are measured (tdx/qemu.h). */
		xmlNodePtr cpu = child_attr(dom, "cpu", "mode", "custom");

		attr(child(cpu, "model", cc_qemu_cpu(d->cfg->confidential, &d->cfg->cc)), "fallback", "forbid");
		return;
	}
	if (d->cfg->confidential == HV_CONFIDENTIAL_TDX) {
		/* The TD's LAPIC is the TDX module's, its IOAPIC QEMU's: kernel-irqchip=split. */
		child_attr(dom, "cpu", "mode", "host-passthrough");
		child_attr(child(dom, "features", NULL), "ioapic", "driver", "qemu");
		return;
	}
	/* Under KVM the host's CPU as it is; under TCG everything QEMU emulates (-cpu max), as the
	 * qemu backend gives its guests. */
	child_attr(dom, "cpu", "mode", strcmp(d->type, "kvm") == 0 ? "host-passthrough" : "maximum");
	if (d->cfg->arch != RV_ARCH_AARCH64)
		return;
	/* virt's GICv3, as the qemu backend's; libvirt's default for virt is the GICv2. */
	features = child(dom, "features", NULL);
	child_attr(features, "gic", "version", strcmp(d->type, "kvm") == 0 ? "host" : "3");
}

bool lv_share_virtiofs(const struct lv_domain *d, const struct hv_share *s)
{
	return d->virtiofsd && !s->readonly && strcmp(s->tag, RV_ROOTFS_TAG) == 0;
}

static void add_share(xmlNodePtr devices, const struct lv_domain *d, const struct hv_share *s)
{
	g_autofree char *dir = g_strconcat(d->share_root, s->host_path, NULL);
	xmlNodePtr fs = child(devices, "filesystem", NULL), n;

	attr(fs, "type", "mount");
	if (lv_share_virtiofs(d, s)) {
		/* libvirt starts the virtiofsd, as root, for this share alone. Its sandbox is a
		 * chroot into the share: its namespace sandbox would mount a /proc of its own pid
		 * namespace, where the monitor's /proc/PID/root is not. */
		attr(fs, "accessmode", "passthrough");
		child_attr(fs, "driver", "type", "virtiofs");
		n = child_attr(fs, "binary", "path", d->virtiofsd);
		child_attr(n, "sandbox", "mode", "chroot");
		child_attr(fs, "source", "dir", dir);
		child_attr(fs, "target", "dir", s->tag);
		return;
	}
	/* passthrough: the guest's root creates files as the host's root would, owners and modes
	 * included (QEMU must run as root for that: qemu.conf's user, README). remap: files of
	 * several host file systems under one share keep distinct inode numbers in the guest. */
	attr(fs, "accessmode", "passthrough");
	attr(fs, "multidevs", "remap");
	child_attr(fs, "driver", "type", "path");
	child_attr(fs, "source", "dir", dir);
	child_attr(fs, "target", "dir", s->tag);
	if (s->readonly)
		child(fs, "readonly", NULL);
}

static void add_disk(xmlNodePtr devices, const struct hv_disk *disk, size_t index, bool cc)
{
	struct stat st;
	bool block = stat(disk->path, &st) == 0 && S_ISBLK(st.st_mode);
	g_autofree char *dev = g_strdup_printf("vd%c", (char)('a' + index));
	xmlNodePtr n = child(devices, "disk", NULL), drv;

	attr(n, "type", block ? "block" : "file");
	attr(n, "device", "disk");
	drv = child_attr(n, "driver", "name", "qemu");
	attr(drv, "type", "raw");
	child_attr(n, "source", block ? "dev" : "file", disk->path);
	attr(child_attr(n, "target", "dev", dev), "bus", "virtio");
	if (cc)
		attr(drv, "iommu", "on");
	if (disk->readonly)
		child(n, "readonly", NULL);
}

static void add_nic(xmlNodePtr devices, const char *tap, bool cc)
{
	xmlNodePtr n = child_attr(devices, "interface", "type", "ethernet");

	/* managed='no': the tap is the backend's, made before the domain; libvirt only opens it
	 * and never changes it (the guest takes the container interface's MAC and MTU itself). */
	attr(child_attr(n, "target", "dev", tap), "managed", "no");
	child_attr(n, "model", "type", "virtio");
	if (cc)
		child_attr(n, "driver", "iommu", "on");
}

static void add_devices(xmlNodePtr dom, const struct lv_domain *d)
{
	const struct hv_vm_config *cfg = d->cfg;
	xmlNodePtr devices = child(dom, "devices", NULL), n;
	/* A confidential guest's virtio devices use the platform's DMA (shared pages only). */
	bool cc = cfg->confidential != HV_CONFIDENTIAL_NONE;

	if (d->emulator)
		child(devices, "emulator", d->emulator);
	for (size_t i = 0; i < cfg->n_shares; i++)
		add_share(devices, d, &cfg->shares[i]);
	for (size_t i = 0; i < cfg->n_disks; i++)
		add_disk(devices, &cfg->disks[i], i, cc);
	for (size_t i = 0; i < cfg->n_nics; i++)
		add_nic(devices, d->taps[i], cc);
	if (cc)
		child_attr(child_attr(devices, "controller", "type", "virtio-serial"), "driver", "iommu", "on");
	n = child_attr(devices, "channel", "type", "unix");
	attr(child_attr(n, "source", "mode", "connect"), "path", d->agent_socket);
	attr(child_attr(n, "target", "type", "virtio"), "name", RV_AGENT_PORT_NAME);
	if (cfg->console_log) {
		/* The runtime bounds the file (it keeps its tail once it passes a cap). */
		n = child_attr(devices, "serial", "type", "file");
		attr(child_attr(n, "source", "path", cfg->console_log), "append", "on");
	}
	/* Nothing the guest does not use: no USB, no balloon, no graphics (none is asked for). */
	child_attr(devices, "controller", "type", "usb");
	attr(devices->last, "model", "none");
	child_attr(devices, "memballoon", "model", "none");
}

char *lv_domain_xml(const struct lv_domain *d)
{
	const struct hv_vm_config *cfg = d->cfg;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain"), md, n;
	g_autofree char *mem = g_strdup_printf("%u", cfg->memory_mib);
	g_autofree char *vcpus = g_strdup_printf("%u", cfg->vcpus);
	xmlChar *buf = NULL;
	char *ret;
	int len = 0;

	xmlDocSetRootElement(doc, dom);
	attr(dom, "type", d->type);
	child(dom, "name", d->name);
	md = child(dom, "metadata", NULL);
	n = child(md, "container", cfg->name);
	xmlSetNs(n, xmlNewNs(n, BAD_CAST RUNVM_XMLNS, BAD_CAST "runvm"));
	attr(child(dom, "memory", mem), "unit", "MiB");
	child(dom, "vcpu", vcpus);
	add_os(dom, d);
	add_cpu(dom, d);
	/* virtio-fs maps the guest's RAM in virtiofsd: it must be a shared file. */
	for (size_t i = 0; i < cfg->n_shares; i++)
		if (lv_share_virtiofs(d, &cfg->shares[i])) {
			n = child(dom, "memoryBacking", NULL);
			child_attr(n, "source", "type", "memfd");
			child_attr(n, "access", "mode", "shared");
			break;
		}
	child_attr(dom, "clock", "offset", "utc");
	/* The agent ends the guest with reboot(2): every end of the guest ends the domain. */
	child(dom, "on_poweroff", "destroy");
	child(dom, "on_reboot", "destroy");
	child(dom, "on_crash", "destroy");
	cc_libvirt_launch_security(dom, cfg->confidential, &cfg->cc);
	add_devices(dom, d);
	xmlDocDumpFormatMemoryEnc(doc, &buf, &len, "UTF-8", 1);
	xmlFreeDoc(doc);
	ret = g_strndup((const char *)buf, (gsize)len);
	xmlFree(buf);
	return ret;
}

/* Whether @path matches a node of @doc. */
static bool xpath_any(xmlDocPtr doc, const char *path)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression((const xmlChar *)path, ctx) : NULL;
	bool found = o && o->nodesetval && o->nodesetval->nodeNr > 0;

	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return found;
}

bool lv_domcaps_launch_security(const char *xml, const char *type)
{
	xmlDocPtr doc;
	g_autofree char *path = NULL;
	bool found;

	/* @type is one of our three names (no quote in it), never the daemon's. */
	if (!xml || strchr(type, '\''))
		return false;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domcapabilities.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return false;
	path = g_strdup_printf("/domainCapabilities/features/launchSecurity[@supported='yes']"
			       "/enum[@name='sectype']/value[normalize-space(text())='%s']",
			       type);
	found = xpath_any(doc, path) ||
		(strcmp(type, "sev") == 0 && xpath_any(doc, "/domainCapabilities/features/sev[@supported='yes']"));
	xmlFreeDoc(doc);
	return found;
}
