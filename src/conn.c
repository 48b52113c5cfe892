/* placeholder: conn */
typedef int prh_placeholder_conn;
