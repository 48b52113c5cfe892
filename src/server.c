/* placeholder: server */
typedef int prh_placeholder_server;
