/* placeholder: notify */
typedef int prh_placeholder_notify;
