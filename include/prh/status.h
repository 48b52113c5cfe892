/* Status reporting: counters of answered commands, the service manager's
 * STATUS= line and watchdog, and the SIGUSR1 summary line.
 *
 * Counters and timers belong to the loop thread, except the worker busy
 * time, which workers add to atomically.
 */
#ifndef PRH_STATUS_H
#define PRH_STATUS_H

#include <stdint.h>

struct server;

/* Count one reply by CDB opcode and SCSI status (loop thread). */
void status_count_reply(uint8_t opcode, uint32_t status);

/* Add time a worker spent in SG_IO (any thread). */
void status_worker_busy(uint64_t ns);

/* Register the STATUS= timer and the watchdog timer (when the service
 * manager asks for one) on the server's event base: 0 or a negative
 * errno.  Nothing is sent before status_refresh().  SIGUSR1 comes in
 * through the server's signalfd and calls status_log_summary(). */
int status_start(struct server *srv);

/* Send STATUS= now if it changed since the last one (first: always). */
void status_refresh(void);

/* Free the events; call before the event base is freed. */
void status_stop(void);

/* Log the summary line (what SIGUSR1 does). */
void status_log_summary(struct server *srv);

/* Format the STATUS= text for srv into buf. */
void status_format(const struct server *srv, char *buf, unsigned len);

#endif
