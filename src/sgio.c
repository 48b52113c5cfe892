/* placeholder: sgio */
typedef int prh_placeholder_sgio;
