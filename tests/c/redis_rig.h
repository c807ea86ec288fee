/* The Redis servers tests/c/with_redis.sh starts for a C test: one server (KS_TEST_REDIS_URL)
 * and a 3-master cluster (KS_TEST_CLUSTER_NODES, its nodes comma-separated), and a suite run on
 * each. Shared by test_redis.c, test_users.c and the lifetime tests (through lifetime_rig.h). */
#ifndef KS_TEST_REDIS_RIG_H
#define KS_TEST_REDIS_RIG_H

#include "test_store.h"

/* The cluster's nodes, parsed from the comma-separated list: `nodes[0..n)` point into `text`. */
typedef struct {
  char text[1024];
  const char *nodes[8];
  size_t n;
} cluster_nodes;

static inline void split_nodes(cluster_nodes *c, const char *csv) {
  CHECK(strlen(csv) < sizeof c->text);
  snprintf(c->text, sizeof c->text, "%s", csv);
  c->n = 0;
  char *save = NULL;
  for (char *t = strtok_r(c->text, ",", &save); t && c->n < 8; t = strtok_r(NULL, ",", &save)) c->nodes[c->n++] = t;
}

/* A suite run on one store (`ts`: the C test store behind it, NULL for Redis). */
typedef void (*store_suite)(const char *name, const ks_store *store, test_store *ts);

/* Runs `suite` on the Redis server and then on the 3-master cluster, stores under `prefix`;
 * `after_one_server(url)`, when not NULL, runs between the two. Says which is skipped when
 * with_redis.sh did not set it. */
static inline void redis_suites_of(store_suite suite, const char *prefix, void (*after_one_server)(const char *url)) {
  const char *url = getenv("KS_TEST_REDIS_URL");
  if (!url || !*url) {
    printf("redis: skipped (KS_TEST_REDIS_URL not set: run through tests/c/with_redis.sh)\n");
    return;
  }
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, prefix, 0, 0, &store));
  suite("redis (one server)", store, NULL);
  ks_store_free(store);
  if (after_one_server) after_one_server(url);

  const char *nodes_csv = getenv("KS_TEST_CLUSTER_NODES");
  if (!nodes_csv || !*nodes_csv) {
    printf("redis cluster: skipped (KS_TEST_CLUSTER_NODES not set)\n");
    return;
  }
  cluster_nodes c;
  split_nodes(&c, nodes_csv);
  CHECK(c.n == 3);
  CHECK_OK(ks_redis_cluster_store_new(c.nodes, c.n, prefix, 0, 0, &store));
  suite("redis cluster (3 masters)", store, NULL);
  ks_store_free(store);
}

#endif
