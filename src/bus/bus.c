#include "bus/bus.h"

struct bus *bus_create(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->use_dapr)
		return bus_dapr_create(cfg, err, errlen);
	if (cfg->kafka_brokers)
		return bus_kafka_create(cfg, err, errlen);
	return bus_in_process_create(cfg);
}
