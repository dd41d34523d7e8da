/* sk_log.h: one-line logging to stderr shared by CLI, gateway and worker. */
#ifndef SUKIMA_SK_LOG_H
#define SUKIMA_SK_LOG_H

enum sk_log_level {
	SK_LOG_ERROR = 0,
	SK_LOG_WARN,
	SK_LOG_INFO,
	SK_LOG_DEBUG,
};

/*
 * Set the tag printed on every line (tag, e.g. "worker") and the level.
 * The level comes from $SUKIMA_LOG (error|warn|info|debug) when set, else
 * from (level).  May be called again; not thread-safe against concurrent
 * sk_log() calls, so call it early in main().
 */
void sk_log_init(const char *tag, enum sk_log_level level);

/* True when (level) would be printed: skip building expensive messages. */
int sk_log_enabled(enum sk_log_level level);

/*
 * Print one line "2026-01-01T00:00:00.000Z tag[pid] level: message" on
 * stderr with a single write(2), so lines from threads never interleave.
 * A trailing newline in (fmt) is not needed.
 */
void sk_log(enum sk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sk_error(...) sk_log(SK_LOG_ERROR, __VA_ARGS__)
#define sk_warn(...)  sk_log(SK_LOG_WARN, __VA_ARGS__)
#define sk_info(...)  sk_log(SK_LOG_INFO, __VA_ARGS__)
#define sk_debug(...) sk_log(SK_LOG_DEBUG, __VA_ARGS__)

#endif
