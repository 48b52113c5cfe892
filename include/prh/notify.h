/* Service manager notification (sd_notify): READY, STATUS, STOPPING.
 * A no-op when NOTIFY_SOCKET is unset.  Loop thread only.
 */
#ifndef PRH_NOTIFY_H
#define PRH_NOTIFY_H

/* Send one notification line such as "READY=1" or "STATUS=...". */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
