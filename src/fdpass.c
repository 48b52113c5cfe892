/* placeholder: fdpass */
typedef int prh_placeholder_fdpass;
