/* embed.h: files compiled into the binary (tools/embed.sh): the shipped datasets
 * ("data/iris.csv", ...), the migrations ("migrations/0001_init.sql"), the OpenAPI
 * document ("openapi.json") and the dashboard ("server/assets/..."). Each is followed
 * by a NUL byte not counted in its length. Read-only, thread-safe. */
#ifndef TG_EMBED_H
#define TG_EMBED_H

#include <stddef.h>

/* The bytes of the embedded file `name` and their count, or NULL if there is none. */
const unsigned char *embed_find(const char *name, size_t *len_out);
/* The name of the i-th embedded file, NULL past the end (for listing, in order). */
const char *embed_name(size_t i);

#endif
