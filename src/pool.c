/* placeholder: pool */
typedef int prh_placeholder_pool;
