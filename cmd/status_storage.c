#include "cmd/status_storage.h"

#include "base/buf.h"
#include "parser/units.h"
#include "providers/layers.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static bool in_stack(const struct kvz_observed_resource *h, const struct kvz_stack_run *r)
{
    return h->kind == KVZ_KIND_CONTAINER && h->managed && h->stack &&
           !strcmp(h->stack, r->m->stack);
}

void kvz_status_storage_json(struct json_t *row, const struct kvz_observed_resource *ct)
{
    if (ct->kind != KVZ_KIND_CONTAINER || !ct->storage_kind)
        return;
    json_object_set_new(row, "storage", json_string(ct->storage_kind));
    json_object_set_new(
        row, "own_disk",
        json_integer((json_int_t)(ct->own_path ? kvz_layers_usage(ct->own_path) : 0)));
    if (ct->layer_lower)
        json_object_set_new(row, "template_tree", json_string(ct->layer_lower));
}

void kvz_status_storage_print(const struct kvz_stack_run *r, const char *state_dir)
{
    const struct kvz_observed *seen = &r->hs.observed[KVZ_KIND_CONTAINER];
    size_t n = 0;
    for (size_t i = 0; r->hs.ops[KVZ_KIND_CONTAINER] && i < seen->n; i++)
        n += in_stack(&seen->v[i], r);
    if (!n)
        return;
    enum kvz_layers l;
    const char *why = NULL;
    struct kvz_error *e = NULL;
    printf("\ncontainer storage: new containers get ");
    if (kvz_layers_choose(&l, &why, r->hs.uri[KVZ_KIND_CONTAINER], state_dir, &e) < 0)
        printf("nothing: %s\n", kvz_error_msg(e));
    else if (l == KVZ_LAYERS_OVERLAY)
        printf("overlay (the template's tree shared, their own layer)\n");
    else
        printf("%s (%s)\n", kvz_layers_str(l), why);
    kvz_error_free(e);
    printf("%-20s %-8s %10s  %s\n", "CONTAINER", "STORAGE", "OWN DISK", "TEMPLATE TREE");
    for (size_t i = 0; i < seen->n; i++) {
        const struct kvz_observed_resource *h = &seen->v[i];
        if (!in_stack(h, r))
            continue;
        struct kvz_buf size = KVZ_BUF_INIT;
        if (h->own_path)
            kvz_size_human(&size, kvz_layers_usage(h->own_path));
        else
            kvz_buf_puts(&size, "-");
        printf("%-20s %-8s %10s  %s\n", h->name, h->storage_kind ? h->storage_kind : "-",
               kvz_buf_cstr(&size), h->layer_lower ? h->layer_lower : "-");
        kvz_buf_release(&size);
    }
}
