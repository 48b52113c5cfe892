/* placeholder: log */
typedef int prh_placeholder_log;
