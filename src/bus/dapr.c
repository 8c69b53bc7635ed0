#include <stdio.h>

#include "bus/bus.h"

struct bus *bus_dapr_create(const struct config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	snprintf(err, errlen, "the dapr bus is not available in this build");
	return NULL;
}
