/* placeholder: scsi_result */
typedef int prh_placeholder_scsi_result;
