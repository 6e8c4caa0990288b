#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "providers/ownership.h"

#include <stdlib.h>
#include <string.h>

static const struct kvz_ownership sample = {
    .stack = "web",
    .kind = KVZ_KIND_CONTAINER,
    .spec_digest = "sha256:aa",
    .template_digest = "sha256:bb",
    .config_digest = "sha256:cc",
    .applied_at = "2026-11-26T08:00:00Z",
    .kvz_version = "0.1.0",
    .source = "git https://x/y.git@abc <&> \"q\"",
    .protect = true,
};

/* A domain document the way libvirt formats it, with kvz's element inside <metadata>. */
static char *domain_with(const char *metadata)
{
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b,
                   "<domain type='lxc'><name>web1</name><metadata>"
                   "<other:x xmlns:other='https://example.org/other'>y</other:x>%s"
                   "</metadata><memory unit='KiB'>1024</memory></domain>",
                   metadata);
    return kvz_buf_detach(&b);
}

static void test_round_trip(void **state)
{
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ownership_to_xml(&xml, &sample, &err), 0);
    /* libxml2 escaped the markup characters of the source */
    assert_non_null(strstr(xml, "&lt;&amp;&gt;"));
    assert_non_null(strstr(xml, "xmlns:kvz=\"" KVZ_XMLNS "\""));
    char *dom = domain_with(xml);
    struct kvz_ownership *o = NULL;
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_non_null(o);
    assert_string_equal(o->stack, "web");
    assert_int_equal(o->kind, KVZ_KIND_CONTAINER);
    assert_string_equal(o->spec_digest, sample.spec_digest);
    assert_string_equal(o->template_digest, sample.template_digest);
    assert_string_equal(o->config_digest, sample.config_digest);
    assert_string_equal(o->applied_at, sample.applied_at);
    assert_string_equal(o->kvz_version, sample.kvz_version);
    assert_string_equal(o->source, sample.source);
    assert_true(o->protect);
    kvz_ownership_free(o);
    free(dom);
    free(xml);
}

static void test_no_metadata_is_unmanaged(void **state)
{
    struct kvz_error *err = NULL;
    struct kvz_ownership *o = (struct kvz_ownership *)1;
    char *dom = domain_with("");
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_null(o);
    free(dom);
    /* same element name in another namespace is not kvz's */
    dom = domain_with("<k:resource xmlns:k='https://evil.example/'><k:stack>web</k:stack>"
                      "<k:kind>vm</k:kind></k:resource>");
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_null(o);
    free(dom);
}

/* libvirt's virDomainSetMetadata puts only the root element in the namespace it is given. */
static void test_unprefixed_children(void **state)
{
    struct kvz_error *err = NULL;
    struct kvz_ownership *o = NULL;
    char *dom = domain_with("<kvz:resource xmlns:kvz='" KVZ_XMLNS "'><stack>s</stack>"
                            "<kind>vm</kind><protect>false</protect></kvz:resource>");
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_non_null(o);
    assert_string_equal(o->stack, "s");
    assert_int_equal(o->kind, KVZ_KIND_VM);
    assert_false(o->protect);
    assert_null(o->spec_digest);
    kvz_ownership_free(o);
    free(dom);
}

static void test_metadata_form_has_no_namespace(void **state)
{
    char *xml = NULL;
    struct kvz_error *err = NULL;
    assert_int_equal(kvz_ownership_to_metadata_xml(&xml, &sample, &err), 0);
    assert_null(strstr(xml, "xmlns"));
    assert_memory_equal(xml, "<resource>", 10);
    assert_non_null(strstr(xml, "<stack>web</stack>"));
    free(xml);
}

static void test_bad_input(void **state)
{
    struct kvz_error *err = NULL;
    struct kvz_ownership *o = NULL;
    assert_int_equal(kvz_ownership_from_domain_xml(&o, "<domain", &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "not a <domain> or <network> document"));
    kvz_error_clear(&err);
    char *dom = domain_with("<kvz:resource xmlns:kvz='" KVZ_XMLNS "'><kvz:stack>s</kvz:stack>"
                            "<kvz:kind>toaster</kvz:kind></kvz:resource>");
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), -1);
    assert_string_equal(kvz_error_msg(err),
                        "kvz metadata: unknown kind 'toaster'; expected container, vm or network");
    assert_null(o);
    kvz_error_clear(&err);
    free(dom);
    dom = domain_with("<kvz:resource xmlns:kvz='" KVZ_XMLNS "'><kvz:kind>vm</kvz:kind>"
                      "</kvz:resource>");
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), -1);
    assert_non_null(strstr(kvz_error_msg(err), "<stack>"));
    kvz_error_clear(&err);
    free(dom);
}

/* A network carries the same element in its <metadata>, of kind network. */
static void test_network(void **state)
{
    struct kvz_ownership net = sample;
    net.kind = KVZ_KIND_NETWORK;
    net.template_digest = net.config_digest = NULL;
    char *xml = NULL;
    struct kvz_error *err = NULL;
    struct kvz_ownership *o = NULL;
    assert_int_equal(kvz_ownership_to_xml(&xml, &net, &err), 0);
    struct kvz_buf b = KVZ_BUF_INIT;
    kvz_buf_printf(&b, "<network><name>lan</name><metadata>%s</metadata></network>", xml);
    assert_int_equal(kvz_ownership_from_domain_xml(&o, kvz_buf_cstr(&b), &err), 0);
    assert_non_null(o);
    assert_int_equal(o->kind, KVZ_KIND_NETWORK);
    assert_string_equal(o->stack, "web");
    assert_null(o->template_digest);
    assert_true(o->protect);
    kvz_ownership_free(o);
    kvz_buf_release(&b);
    free(xml);
}

/* A container on shared layers: its layers round-trip, and a domain without them has none. */
static void test_layers(void **state)
{
    struct kvz_ownership with = sample;
    with.layer_lower = "/var/lib/kvz/cache/objects/ab";
    with.layer_upper = "/var/lib/kvz/containers/web/web1/upper";
    with.layer_work = "/var/lib/kvz/containers/web/web1/work";
    char *xml = NULL, *dom = NULL;
    struct kvz_error *err = NULL;
    struct kvz_ownership *o = NULL;
    assert_int_equal(kvz_ownership_to_xml(&xml, &with, &err), 0);
    assert_non_null(
        strstr(xml, "<kvz:" KVZ_OWN_LAYER_UPPER ">/var/lib/kvz/containers/web/web1/upper<"));
    dom = domain_with(xml);
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_string_equal(o->layer_lower, with.layer_lower);
    assert_string_equal(o->layer_upper, with.layer_upper);
    assert_string_equal(o->layer_work, with.layer_work);
    kvz_ownership_free(o);
    free(dom);
    free(xml);
    assert_int_equal(kvz_ownership_to_xml(&xml, &sample, &err), 0);
    assert_null(strstr(xml, "layer-"));
    dom = domain_with(xml);
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, &err), 0);
    assert_null(o->layer_lower);
    assert_null(o->layer_upper);
    kvz_ownership_free(o);
    free(dom);
    free(xml);
}

/* A remote container's hostname (what kvz wrote into its image) round-trips; absent otherwise. */
static void test_hostname(void **state)
{
    struct kvz_ownership with = sample;
    with.hostname = "web1.example.org";
    char *xml = NULL, *dom = NULL;
    struct kvz_ownership *o = NULL;
    assert_int_equal(kvz_ownership_to_xml(&xml, &with, NULL), 0);
    assert_non_null(strstr(xml, "<kvz:hostname>web1.example.org</kvz:hostname>"));
    dom = domain_with(xml);
    assert_int_equal(kvz_ownership_from_domain_xml(&o, dom, NULL), 0);
    assert_string_equal(o->hostname, "web1.example.org");
    kvz_ownership_free(o);
    free(dom);
    free(xml);
    assert_int_equal(kvz_ownership_to_xml(&xml, &sample, NULL), 0);
    assert_null(strstr(xml, "hostname"));
    free(xml);
}

static void test_identity(void **state)
{
    char mac[18], mac2[18], uuid[37], uuid2[37];
    kvz_identity_mac(mac, "web", "web1");
    kvz_identity_mac(mac2, "web", "web1");
    assert_string_equal(mac, mac2);
    assert_int_equal(strlen(mac), 17);
    assert_memory_equal(mac, "52:54:00:", 9);
    kvz_identity_mac(mac2, "web", "web2");
    assert_string_not_equal(mac, mac2);
    /* the separator keeps stack and name apart */
    kvz_identity_mac(mac, "a-b", "c");
    kvz_identity_mac(mac2, "a", "b-c");
    assert_string_not_equal(mac, mac2);

    kvz_identity_uuid(uuid, "web", "web1");
    kvz_identity_uuid(uuid2, "web", "web1");
    assert_string_equal(uuid, uuid2);
    assert_int_equal(strlen(uuid), 36);
    assert_int_equal(uuid[8], '-');
    assert_int_equal(uuid[14], '5');           /* version */
    assert_non_null(strchr("89ab", uuid[19])); /* RFC 4122 variant */
    kvz_identity_uuid(uuid2, "other", "web1");
    assert_string_not_equal(uuid, uuid2);

    /* a network's bridge: an interface name the kernel takes (15 characters at most) */
    char br[16], br2[16];
    kvz_identity_bridge(br, "web", "lan");
    kvz_identity_bridge(br2, "web", "lan");
    assert_string_equal(br, br2);
    assert_int_equal(strlen(br), 15);
    assert_memory_equal(br, "kvz-", 4);
    kvz_identity_bridge(br2, "other", "lan");
    assert_string_not_equal(br, br2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_metadata_is_unmanaged),
        cmocka_unit_test(test_unprefixed_children),
        cmocka_unit_test(test_metadata_form_has_no_namespace),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
