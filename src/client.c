/* placeholder: client */
typedef int prh_placeholder_client;
