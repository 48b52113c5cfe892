/* placeholder: config */
typedef int prh_placeholder_config;
