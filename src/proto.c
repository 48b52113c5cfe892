/* placeholder: proto */
typedef int prh_placeholder_proto;
