/* PostgreSQL array literals in text form ({"a","b\"c"}), to pass a list as
 * one statement parameter. Every item is quoted, so any text is safe in it. */
#ifndef TASKFLOW_CORE_PGARRAY_H
#define TASKFLOW_CORE_PGARRAY_H

#include "core/strbuf.h"

/* Appends an item to the literal being built in b, which starts empty. */
void pgarray_append(struct strbuf *b, const char *item);

/* Closes the literal: {} when nothing was appended. */
void pgarray_finish(struct strbuf *b);

#endif
